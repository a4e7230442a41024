// Committer: a child committed, or committed rejected when lineage would not keep its change.
#include <catch2/catch.hpp>

#include <thread>

#include "orchestrator/commit_child.h"
#include "tests/orchestrator/services_rig.h"

namespace lineage {
namespace {

struct Commits {
  test::ServicesRig rig;
  Committer committer{rig.run()};
  std::vector<TreeEntry> seed_tree;

  Commits() {
    REQUIRE(committer.Load().ok());
    auto tree = rig.archive().Tree(rig.seed());
    REQUIRE(tree.ok());
    seed_tree = *tree;
  }

  ChildDraft Draft(std::vector<TreeEntry> tree, int slot = 0) {
    return ChildDraft{rig.seed(), slot + 1, slot, seed_tree, std::move(tree), "", "make it better", "{}"};
  }

  std::vector<TreeEntry> Changed(const std::string& text) {
    std::vector<TreeEntry> tree = seed_tree;
    tree.push_back(TreeEntry{"new.txt", TreeEntry::Kind::kFile, text});
    return tree;
  }
};

TEST_CASE("a changed tree is committed to be built and evaluated, with the slot its calls were recorded under") {
  Commits c;
  auto child = c.committer.Commit(c.Draft(c.Changed("one\n"), 2), std::nullopt);
  REQUIRE(child.ok());
  CHECK(child->state == AgentState::kCommitted);
  CHECK(*child->parent_id == c.rig.seed());
  auto events = c.rig.archive().ListEvents(c.rig.world.run);
  REQUIRE(events.ok());
  CHECK_THAT(events->back().data_json, Catch::Contains("\"child 3\""));
}

TEST_CASE("an unchanged tree is committed rejected as an empty change") {
  Commits c;
  auto child = c.committer.Commit(c.Draft(c.seed_tree), std::nullopt);
  REQUIRE(child.ok());
  CHECK(child->state == AgentState::kRejected);
  CHECK_THAT(child->reason, Catch::StartsWith("empty change"));
}

TEST_CASE("a path lineage will not read rejects the change, and the parent's files are committed instead") {
  Commits c;
  std::vector<TreeEntry> tree = c.seed_tree;
  tree.push_back(TreeEntry{".git/hooks/post-checkout", TreeEntry::Kind::kExecutable, "#!/bin/sh\n"});
  auto child = c.committer.Commit(c.Draft(tree), std::nullopt);
  REQUIRE(child.ok());
  CHECK(child->state == AgentState::kRejected);
  CHECK_THAT(child->reason, Catch::StartsWith("unusable change"));
  auto committed = c.rig.archive().TreeId(child->id);
  auto seed = c.rig.archive().TreeId(c.rig.seed());
  REQUIRE(committed.ok());
  CHECK(*committed == *seed);
}

TEST_CASE("a child with the files of an agent of the run already is rejected as its duplicate") {
  Commits c;
  auto first = c.committer.Commit(c.Draft(c.Changed("same\n"), 0), std::nullopt);
  auto second = c.committer.Commit(c.Draft(c.Changed("same\n"), 1), std::nullopt);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(second->state == AgentState::kRejected);
  CHECK(second->reason == "duplicate of #" + std::to_string(first->id));
}

TEST_CASE("a replayed child waits for its commit turn, and commits in the record's order") {
  Commits c;
  // The run holds the seed: the child with turn 2 commits after the one with turn 1.
  Result<Agent> later = Status::Internal("not run");
  std::thread waiting([&] { later = c.committer.Commit(c.Draft(c.Changed("second\n"), 1), std::size_t{2}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto sooner = c.committer.Commit(c.Draft(c.Changed("first\n"), 0), std::size_t{1});
  waiting.join();
  REQUIRE(sooner.ok());
  REQUIRE(later.ok());
  CHECK(sooner->id < later->id);
}

TEST_CASE("a commit turn that never comes gives up when the process stops, saying why") {
  Commits c;
  c.rig.stop = true;
  auto child = c.committer.Commit(c.Draft(c.Changed("x\n")), std::size_t{5});
  REQUIRE_FALSE(child.ok());
  CHECK_THAT(child.status().message(), Catch::Contains("waited in vain for its turn") && Catch::Contains("holds 1"));
}

}  // namespace
}  // namespace lineage
