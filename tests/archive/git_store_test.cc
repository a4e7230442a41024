#include "archive/git_store.h"

#include <catch2/catch.hpp>

#include "tests/support/test_support.h"

namespace lineage {
namespace {

std::vector<TreeEntry> SampleTree() {
  return {{"README", TreeEntry::Kind::kFile, "hello\n"},
          {"bin/run", TreeEntry::Kind::kExecutable, "#!/bin/sh\n"},
          {"bin/link", TreeEntry::Kind::kSymlink, "run"},
          {"src/a/b/deep.cc", TreeEntry::Kind::kFile, "// deep\n"}};
}

TEST_CASE("the same tree, parent, message and time give the same commit") {
  test::TempDir tmp;
  auto git = GitStore::OpenOrCreate(tmp / "agents.git");
  REQUIRE(git.ok());
  auto tree = (*git)->WriteTree(SampleTree());
  REQUIRE(tree.ok());
  auto c1 = (*git)->Commit(*tree, "", "agent 1\n", 1700000000000);
  auto c2 = (*git)->Commit(*tree, "", "agent 1\n", 1700000000000);
  REQUIRE(c1.ok());
  CHECK(*c1 == *c2);
  auto c3 = (*git)->Commit(*tree, *c1, "agent 2\n", 1700000000000);
  REQUIRE(c3.ok());
  CHECK(*(*git)->ParentOf(*c3) == *c1);
  CHECK(*(*git)->TreeOf(*c3) == *tree);
}

TEST_CASE("a commit's tree reads back with kinds intact") {
  test::TempDir tmp;
  auto git = GitStore::OpenOrCreate(tmp / "agents.git");
  auto commit = (*git)->Commit(*(*git)->WriteTree(SampleTree()), "", "m\n", 0);
  REQUIRE(commit.ok());
  auto entries = (*git)->ReadTree(*commit);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 4);
  for (const TreeEntry& want : SampleTree()) {
    auto it = std::find_if(entries->begin(), entries->end(), [&](const TreeEntry& e) { return e.path == want.path; });
    REQUIRE(it != entries->end());
    CHECK(it->kind == want.kind);
    CHECK(it->data == want.data);
  }
}

TEST_CASE("trees with escaping or duplicate paths are refused") {
  test::TempDir tmp;
  auto git = GitStore::OpenOrCreate(tmp / "agents.git");
  CHECK((*git)->WriteTree({{"../x", TreeEntry::Kind::kFile, ""}}).status().code() == Status::Code::kInvalidArgument);
  CHECK((*git)->WriteTree({{".git/config", TreeEntry::Kind::kFile, ""}}).status().code() ==
        Status::Code::kInvalidArgument);
  CHECK((*git)->WriteTree({{"a", TreeEntry::Kind::kFile, ""}, {"a/b", TreeEntry::Kind::kFile, ""}}).status().message() ==
        "refusing path 'a/b': 'a' is also a file");
  CHECK((*git)->WriteTree({{"a/b", TreeEntry::Kind::kFile, ""}, {"a", TreeEntry::Kind::kFile, ""}}).status().message() ==
        "refusing path 'a': it appears twice in the tree");
}

TEST_CASE("branches are idempotent and never silently moved") {
  test::TempDir tmp;
  auto git = GitStore::OpenOrCreate(tmp / "agents.git");
  auto tree = (*git)->WriteTree(SampleTree());
  auto a = (*git)->Commit(*tree, "", "a\n", 0);
  auto b = (*git)->Commit(*tree, "", "b\n", 0);
  REQUIRE((*git)->SetBranch(5, *a).ok());
  REQUIRE((*git)->SetBranch(5, *a).ok());
  CHECK((*git)->SetBranch(5, *b).code() == Status::Code::kCorruption);
  CHECK(*(*git)->Branch(5).value() == *a);
  REQUIRE((*git)->SetBranch(5, *b, /*force=*/true).ok());
  CHECK(*(*git)->Branch(5).value() == *b);
  CHECK_FALSE((*git)->Branch(6).value().has_value());
  CHECK(*(*git)->ListBranches() == std::vector<std::int64_t>{5});
}

}  // namespace
}  // namespace lineage
