// A run's services over the fast world (fast_world.h), built by hand rather than opened: the parts of the
// loop (LoopState, Committer, ChooseProblem) are tested on them alone, on the test's clock.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "llm/gateway.h"
#include "orchestrator/evolution.h"
#include "orchestrator/run_services.h"
#include "orchestrator/runs.h"
#include "tests/orchestrator/fast_world.h"

namespace lineage::test {

struct ServicesRig {
  World world;
  EvolutionOptions options;
  std::atomic<bool> stop{false};
  std::vector<std::int64_t> slept;  // each wait the loop asked for, in milliseconds
  std::unique_ptr<RunServices> services;

  explicit ServicesRig(const std::string& extra = "", const std::string& budget = "")
      : world({"good"}, 3, budget, extra) {
    options.home = world.dir / "home";
    options.sandbox = &world.sandbox;
    options.stop = &stop;
    options.clock = [this] { return world.now; };
    options.sleep = [this](std::int64_t ms) {
      slept.push_back(ms);
      world.now += ms;
    };
    auto run = world.archive->GetRun(world.run);
    REQUIRE(run.ok());
    auto config = StoredRunConfig(*run);
    REQUIRE(config.ok());
    services = std::make_unique<RunServices>(*world.archive, *run, *config, options);
    services->budget = std::make_shared<llm::Budget>(llm::BudgetLimits{});
    services->started_at = world.now;
  }

  RunServices& run() { return *services; }
  Archive& archive() { return *world.archive; }
  AgentId seed() { return services->seed(); }
};

}  // namespace lineage::test
