// A run's services: what one process running one run holds for it, built once as the run starts
// (OpenRunServices) and passed by reference to every part of the loop — the schedulers, the child
// pipeline, the seed's evaluation, the finals. It is the one place a setting the whole run shares lives:
// every agent run of the run starts from `runtime`, every sandboxed process goes through `sandbox`.
//
// Its members do not change once it is built; its methods are safe to call from any slot's thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"
#include "evaluators/stages.h"
#include "harness/harness.h"
#include "llm/llm.h"
#include "orchestrator/prompts.h"
#include "orchestrator/run_config.h"
#include "sandbox/sandbox.h"

namespace lineage {

struct EvolutionOptions;  // orchestrator/evolution.h

// The models an agent of the run sees: the configured ones, with the roles' choices under the aliases
// agents ask for ("conductor", "expert").
llm::ModelsConfig AgentModels(const RunConfig& config);

// How every agent of a run runs, as far as its configuration says: the agents' models, their rounds, the
// address the executor's nodes reach the gateway at. The budget, the recorder and the replayer are the
// caller's (the run's own, when the run evaluates).
AgentRuntime RunRuntime(const RunConfig& config, const std::filesystem::path& home);

// What the names of a run's Slurm jobs begin with ([executor] kind = "slurm"): its home and its id.
std::string SlurmJobPrefix(const std::filesystem::path& home, RunId run);

class RunServices {
 public:
  RunServices(Archive& archive, Run run, RunConfig config, const EvolutionOptions& options);
  ~RunServices();
  RunServices(const RunServices&) = delete;
  RunServices& operator=(const RunServices&) = delete;

  Archive& archive;
  const Run run;
  const RunConfig config;
  const EvolutionOptions& options;  // the process's seams: stop, clock, sleep, progress, replay
  std::filesystem::path run_dir;    // home/runs/run-N: the gateway's socket, attempts' scratch
  std::unique_ptr<Sandbox> sandbox;  // every sandboxed process of the run, held to its [sandbox] limits
  Prompts prompts;
  std::shared_ptr<llm::Budget> budget;  // the run's, less what the archive recorded before a restart
  std::unique_ptr<llm::Gateway> gateway;  // the diagnosis's way to its model
  llm::ModelConfig diagnosis_model;     // the diagnosis model, as reached through `gateway`
  AgentRuntime runtime;                 // every agent run of the run starts from it
  std::int64_t started_at = 0;          // Now() when the run's process took it up

  AgentId seed() const { return *run.seed_agent_id; }
  bool hgm() const { return config.selection.strategy == SelectionStrategy::kHgm; }
  Result<Evaluator*> OpenSuite(const std::string& name) { return suites_.Open(name); }

  // Unix milliseconds: the run's clock (EvolutionOptions::clock, else the system's).
  std::int64_t Now() const;
  // This process is stopping (a signal, the daemon stopping): the run goes on next time.
  bool StopRequested() const;
  // Waits `ms`, waking early when the process stops.
  void Sleep(std::int64_t ms) const;
  // The run's state as the archive has it now: a person may pause or stop it at any time.
  Result<RunState> StoredState() const;
  // Why the home's file system is too full to go on; empty when it is not. A run pauses then, rather than
  // fail writes halfway through a child.
  std::string LowDisk() const;

  // `agent` built in the sandbox (the build cache makes a second build of a tree free).
  Result<BuildOutcome> Build(AgentId agent);
  // How the run evaluates `agent`: its runtime, the task wall time, parallelism, progress and archive.
  EvaluationOptions EvaluationFor(AgentId agent, const BuiltAgent& built);
  // `agent` on the run's stages, stage by stage (under hgm, on stage 1 only: the policy chooses every task
  // run after that); the task runs it has recorded stand.
  Result<StagedResult> EvaluateStages(AgentId agent, const BuiltAgent& built);

  // Moves `agent` on to `to` (nothing when it is there already: a resumed step), with one event, and says so.
  Status MoveAgent(Agent& agent, AgentState to, const std::string& reason = "",
                   nlohmann::json data = nlohmann::json::object());
  // A built agent goes on to be evaluated; one resumed from built or evaluating is not moved back.
  Status MoveToEvaluating(Agent& agent);
  // Waits until `ready` holds, checking it whenever an agent of the run changes state or is committed, and
  // every second (for the process stopping); false once `timeout_ms` passed or the process stops first.
  bool AwaitAgents(const std::function<bool()>& ready, std::int64_t timeout_ms);
  // Says an agent of the run changed (MoveAgent does; so does a commit).
  void AgentsChanged();

  // An event later steps read back (archive/journal.h): it lands, or the step fails.
  Status Journal(const std::string& kind, const std::string& data, std::optional<AgentId> agent = std::nullopt);
  // An event for people (the run's log, the dashboard): a failed write is logged, and the run goes on.
  void Note(const std::string& kind, nlohmann::json data);
  // One line of progress, one call at a time.
  void Progress(const std::string& line);

  // The run's process lets go of it, however it ends: its gateway stops, and no job of its stays in the
  // cluster's queue.
  void StopServing();

 private:
  friend Result<std::unique_ptr<RunServices>> OpenRunServices(Archive&, Run, RunConfig, const EvolutionOptions&);
  Status Open();
  Status OpenExecutor();
  Status OpenGateway();

  std::unique_ptr<Sandbox> slurm_;  // [executor] kind = "slurm": the executor `sandbox` wraps
  SuiteCache suites_{&config.evaluation};
  std::mutex progress_mu_;
  std::mutex agents_mu_;
  std::condition_variable agents_cv_;
  std::uint64_t agents_changes_ = 0;  // guarded by agents_mu_
};

// The services of `run`, ready: its executor, sandbox limits, prompts, budget (less what the archive
// recorded), gateway and scratch directory.
Result<std::unique_ptr<RunServices>> OpenRunServices(Archive& archive, Run run, RunConfig config,
                                                     const EvolutionOptions& options);

}  // namespace lineage
