// A whole run in milliseconds: the scripted sandbox, the fast suite and model (scripted_sandbox.h), the real
// archive, gateway and loop, and a clock of the test's own.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <algorithm>

#include "archive/archive.h"
#include "orchestrator/evolution.h"
#include "orchestrator/runs.h"
#include "tests/orchestrator/scripted_sandbox.h"

namespace lineage::test {

using json = nlohmann::json;

// A fast world in a temporary directory: the suite, the seed, an archive and one run of its configuration,
// run on the loop's own clock (backoffs pass at once).
struct World {
  test::TempDir dir;
  std::unique_ptr<llm::FakeModelServer> model;
  test::ScriptedSandbox sandbox;
  std::unique_ptr<Archive> archive;
  RunId run = 0;
  std::int64_t now = 1'000'000;  // the clock the loop reads, in milliseconds
  std::vector<std::string> progress;

  World(const std::vector<std::string>& modes, int children, const std::string& budget = "",
        const std::string& extra = "", const json& outages = json::array(), const std::string& provider = "openai",
        int in_flight = 1) {
    model = test::FastModel(modes, outages);
    test::WriteFastWorld(dir.path());
    test::WriteFile(dir / "run.toml", test::FastRunToml(dir.path(), model->url(), children, budget, extra, provider, in_flight));
    auto config = LoadRunConfig(dir / "run.toml");
    INFO(config.status().ToString());
    REQUIRE(config.ok());
    auto opened = Archive::Init(dir / "home");
    REQUIRE(opened.ok());
    archive = std::move(opened).value();
    auto created = CreateRun(*archive, *config);
    REQUIRE(created.ok());
    run = *created;
  }

  Result<RunState> Evolve(const std::atomic<bool>* stop = nullptr) {
    EvolutionOptions options;
    options.home = dir / "home";
    options.sandbox = &sandbox;
    options.stop = stop;
    options.clock = [this] { return now; };
    options.sleep = [this](std::int64_t ms) { now += ms; };  // backoffs pass at once, on the loop's clock
    options.on_progress = [this](const std::string& line) { progress.push_back(line); };
    return RunEvolution(*archive, run, options);
  }

  std::vector<Agent> Children() {
    auto agents = archive->ListAgents(run);
    REQUIRE(agents.ok());
    std::vector<Agent> children;
    for (const Agent& a : *agents) {
      if (a.parent_id) children.push_back(a);
    }
    return children;
  }

  std::vector<std::string> EventKinds() {
    auto events = archive->ListEvents(run);
    REQUIRE(events.ok());
    std::vector<std::string> kinds;
    for (const Event& e : *events) kinds.push_back(e.kind);
    return kinds;
  }

  // The data of the last event of `kind`.
  json LastEvent(const std::string& kind) {
    auto events = archive->ListEvents(run);
    REQUIRE(events.ok());
    json data;
    for (const Event& e : *events) {
      if (e.kind == kind) data = json::parse(e.data_json);
    }
    return data;
  }

  int Count(const std::string& kind) {
    auto kinds = EventKinds();
    return static_cast<int>(std::count(kinds.begin(), kinds.end(), kind));
  }

  RunState State() { return archive->GetRun(run)->state; }
};

// What a run made: each child's parent, state, reason and score, in order.
inline std::vector<std::string> Tree(World& w) {
  std::vector<std::string> tree;
  for (const Agent& c : w.Children()) {
    tree.push_back(std::to_string(*c.parent_id) + " " + StateName(c.state) + " " + c.reason + " " +
                   (c.score ? std::to_string(*c.score) : "-"));
  }
  return tree;
}

// The tree of the same run with no outage.
inline std::vector<std::string> CalmTree(const std::vector<std::string>& modes, int children) {
  World calm(modes, children);
  auto ended = calm.Evolve();
  REQUIRE(ended.ok());
  return Tree(calm);
}

// Runs `modes` through an outage of 3 requests of `kind` from request `after`, and checks that it ends as
// the calm run did (`expected`), having absorbed the faults rather than blamed anyone.
inline void CheckOutageChangesNothing(const std::vector<std::string>& modes, int children, int after,
                                      const std::string& kind, const std::vector<std::string>& expected) {
  World stormy(modes, children, "", "", json::array({{{"after", after}, {"requests", 3}, {"fault", kind}}}));
  auto ended = stormy.Evolve();
  INFO(ended.status().ToString());
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  CHECK(Tree(stormy) == expected);
  CHECK(stormy.Count("fault.absorbed") >= 1);
  CHECK(stormy.Count("child.failed") == 0);
}

}  // namespace lineage::test
