#include "orchestrator/runs.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "archive/journal.h"
#include "base/files.h"
#include "orchestrator/evolution.h"
#include "orchestrator/run_services.h"
#include "sandbox/slurm.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

PauseRecord LastPause(Archive& archive, RunId id) {
  PauseRecord record;
  auto events = archive.ListEvents(id);
  if (!events.ok()) return record;
  for (auto e = events->rbegin(); e != events->rend(); ++e) {
    if (e->kind != "run.paused") continue;
    if (auto ended = journal::RunEnded::Decode(*e)) record = {ended->fault, ended->retry_at, ended->reason};
    return record;
  }
  return record;
}

// seed_agent given as an archive agent's id: the agent, which must exist and be admitted (or committed:
// the run evaluates it first).
static Result<AgentId> SeedFromArchive(Archive& archive, const RunConfig& config) {
  const AgentId seed = std::stoll(config.seed_agent);
  auto agent = archive.GetAgent(seed);
  LINEAGE_RETURN_IF_ERROR(agent.status().WithContext(config.source + ": seed_agent"));
  if (agent->state == AgentState::kAdmitted) return seed;
  const bool unjudged = agent->state == AgentState::kCommitted || agent->state == AgentState::kBuilt ||
                        agent->state == AgentState::kEvaluating;
  if (!unjudged) {
    return Status::InvalidArgument(config.source + ": seed_agent: agent " + config.seed_agent + " is " +
                                   StateName(agent->state) + (agent->reason.empty() ? "" : " (" + agent->reason + ")") +
                                   "; a run starts from an admitted agent, or a committed one it evaluates first");
  }
  // The new run evaluates it first; not while a run that goes on is evaluating it too.
  LINEAGE_ASSIGN_OR_RETURN(std::vector<class Run> runs, archive.ListRuns());
  for (const class Run& r : runs) {
    const bool evaluates = r.seed_agent_id == seed || agent->run_id == r.id;
    if (!evaluates || HasEnded(r.state) || r.state == RunState::kPaused) continue;
    return Status::FailedPrecondition(config.source + ": seed_agent: agent " + config.seed_agent + " is still " +
                                      StateName(agent->state) + " in run " + std::to_string(r.id) + " (" +
                                      StateName(r.state) + "); start from it once run " + std::to_string(r.id) +
                                      " has judged it, or pause that run first (`lineage run pause " +
                                      std::to_string(r.id) + "`)");
  }
  return seed;
}

Status CheckSeedAgent(const RunConfig& config, const fs::path& home) {
  std::error_code ec;
  if (fs::is_directory(config.seed_agent, ec)) return Status::OK();
  if (!fs::exists(home / "archive.db", ec)) {
    return Status::InvalidArgument(config.source + ": seed_agent: " + config.seed_agent + " names an agent of the " +
                                   "archive in " + home.string() + ", which has no archive (give the seed's source " +
                                   "directory, or the home that holds the agent)");
  }
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
  return SeedFromArchive(*archive, config).status();
}

Result<RunId> CreateRun(Archive& archive, const RunConfig& config) {
  AgentId seed = 0;
  std::error_code ec;
  if (fs::is_directory(config.seed_agent, ec)) {
    LINEAGE_ASSIGN_OR_RETURN(Agent imported, archive.ImportAgent(config.seed_agent, "seed of " + config.name));
    seed = imported.id;
  } else {
    LINEAGE_ASSIGN_OR_RETURN(seed, SeedFromArchive(archive, config));
  }
  journal::StoredConfig stored;
  stored.source = config.source;
  stored.base_dir = config.base_dir.empty() ? fs::absolute(config.source).parent_path().string()
                                            : fs::absolute(config.base_dir).string();
  stored.text = config.text;
  stored.models_override = config.models_override;
  stored.models_override_text = config.models_override_text;
  stored.origin = config.origin;
  LINEAGE_ASSIGN_OR_RETURN(class Run run, archive.CreateRun(config.name, stored.Encode(), seed, config.children));
  return run.id;
}

journal::RunOrigin RunOrigin(const Run& run) {
  const std::optional<journal::StoredConfig> stored = journal::StoredConfig::Decode(run.config);
  return stored ? stored->origin : journal::RunOrigin{};
}

Result<RunId> ForkRun(Archive& archive, const ForkOptions& options) {
  LINEAGE_ASSIGN_OR_RETURN(class Run from, archive.GetRun(options.from));
  LINEAGE_ASSIGN_OR_RETURN(Agent agent, archive.GetAgent(options.agent));
  const std::string name = "agent " + std::to_string(agent.id);
  if (agent.run_id != from.id && from.seed_agent_id != agent.id) {
    return Status::InvalidArgument("--from: " + name + " is not of run " + std::to_string(from.id) +
                                   (agent.run_id ? " (it is of run " + std::to_string(*agent.run_id) + ")" : ""));
  }
  // A seed not yet judged (its run was stopped or paused before it was evaluated) is evaluated by the fork.
  const bool unjudged_seed = from.seed_agent_id == agent.id && agent.state != AgentState::kRejected &&
                             agent.state != AgentState::kFailed && agent.state != AgentState::kPending;
  if (agent.state != AgentState::kAdmitted && !unjudged_seed) {
    return Status::InvalidArgument("--from: " + name + " is " + StateName(agent.state) +
                                   (agent.reason.empty() ? "" : " (" + agent.reason + ")") +
                                   "; a fork starts from an admitted agent, or from the run's seed");
  }
  RunConfig config;
  if (options.config.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(config, StoredRunConfig(from, /*with_raised_budgets=*/false));
  } else {
    LINEAGE_ASSIGN_OR_RETURN(config, LoadRunConfig(options.config));
  }
  if (!options.models.empty()) LINEAGE_RETURN_IF_ERROR(OverrideModels(config, options.models));
  config.seed_agent = std::to_string(agent.id);
  config.origin = {journal::RunOrigin::Kind::kFork, from.id, agent.id, ""};
  LINEAGE_RETURN_IF_ERROR(CheckRunConfig(config));
  return CreateRun(archive, config);
}

Result<RunConfig> StoredRunConfig(const Run& run, bool with_raised_budgets) {
  const std::optional<journal::StoredConfig> stored = journal::StoredConfig::Decode(run.config);
  if (!stored) return Status::Corruption("run " + std::to_string(run.id) + " has no stored configuration");
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, ParseRunConfig(stored->text, stored->source, stored->base_dir));
  config.origin = stored->origin;
  if (!stored->models_override_text.empty()) {
    const std::string name = stored->models_override.empty() ? "--models" : stored->models_override;
    LINEAGE_RETURN_IF_ERROR(OverrideModelsText(config, stored->models_override_text, name));
  }
  if (!with_raised_budgets) return config;
  // Budgets raised since (RaiseBudget) stand over the file's.
  const journal::StoredConfig::Raised& raised = stored->raised;
  if (raised.children) config.children = *raised.children;
  if (raised.cost_usd) config.cost_usd = raised.cost_usd;
  if (raised.tokens) config.tokens = raised.tokens;
  if (raised.task_evaluations) config.task_evaluations = raised.task_evaluations;
  return config;
}

Status ReplaceRunModels(Archive& archive, RunId id, const fs::path& models) {
  LINEAGE_ASSIGN_OR_RETURN(class Run run, archive.GetRun(id));
  const std::string name = "run " + std::to_string(id);
  // Only a run that resume goes on with: a finished run's would be replaced, and then not resumed.
  if (run.state != RunState::kPaused && run.state != RunState::kFailed) {
    return Status::FailedPrecondition(name + " is " + StateName(run.state) + "; its models can be replaced once it is " +
                                      "paused or failed (`lineage run pause " + std::to_string(id) + "` first)");
  }
  if (RunOrigin(run).replay()) {
    return Status::FailedPrecondition(name + " is a replay; it calls no model, so it has no models to replace");
  }
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, StoredRunConfig(run, /*with_raised_budgets=*/false));
  LINEAGE_RETURN_IF_ERROR(OverrideModels(config, models));
  LINEAGE_RETURN_IF_ERROR(CheckModelKeys(config));
  journal::StoredConfig stored = *journal::StoredConfig::Decode(run.config);  // StoredRunConfig read it
  stored.models_override = config.models_override;
  stored.models_override_text = config.models_override_text;
  const std::optional<int> children = run.children_wanted;
  return archive.SetRunConfig(id, stored.Encode(), children, json{{"models_override", config.models_override}}.dump());
}

Result<RunState> RaiseBudget(Archive& archive, RunId id, const BudgetRaise& raise) {
  LINEAGE_ASSIGN_OR_RETURN(class Run run, archive.GetRun(id));
  const std::string name = "run " + std::to_string(id);
  if (run.state == RunState::kQueued || run.state == RunState::kRunning || run.state == RunState::kPausing ||
      run.state == RunState::kStopping || run.state == RunState::kStopped) {
    return Status::FailedPrecondition(name + " is " + StateName(run.state) + "; its budget can be raised once it is " +
                                      "finished, paused or failed (`lineage run pause " + std::to_string(id) + "` first)");
  }
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, StoredRunConfig(run));
  journal::StoredConfig stored = *journal::StoredConfig::Decode(run.config);  // StoredRunConfig read it
  journal::StoredConfig::Raised& raised = stored.raised;
  if (raise.children) {
    if (*raise.children <= config.children) {
      return Status::InvalidArgument("--children " + std::to_string(*raise.children) + " does not raise " + name +
                                     "'s " + std::to_string(config.children));
    }
    raised.children = *raise.children;
  }
  if (raise.cost_usd) {
    if (!config.cost_usd || *raise.cost_usd <= *config.cost_usd) {
      return Status::InvalidArgument("--cost-usd " + std::to_string(*raise.cost_usd) + " does not raise " + name + "'s " +
                                     (config.cost_usd ? "$" + std::to_string(*config.cost_usd) : "(it has no dollar budget)"));
    }
    raised.cost_usd = *raise.cost_usd;
  }
  if (raise.tokens) {
    if (!config.tokens || *raise.tokens <= *config.tokens) {
      return Status::InvalidArgument("--tokens " + std::to_string(*raise.tokens) + " does not raise " + name + "'s " +
                                     (config.tokens ? std::to_string(*config.tokens) : "(it has no token budget)"));
    }
    raised.tokens = *raise.tokens;
  }
  if (raise.task_evaluations) {
    if (!config.task_evaluations || *raise.task_evaluations <= *config.task_evaluations) {
      return Status::InvalidArgument("--task-evaluations " + std::to_string(*raise.task_evaluations) + " does not raise " +
                                     name + "'s " +
                                     (config.task_evaluations ? std::to_string(*config.task_evaluations)
                                                              : "(it has no [budget] task_evaluations)"));
    }
    raised.task_evaluations = *raise.task_evaluations;
  }
  LINEAGE_RETURN_IF_ERROR(archive.SetRunConfig(id, stored.Encode(), raised.children.value_or(config.children),
                                               json{{"budget_raised", json::parse(raised.Encode())}}.dump()));
  if (run.state != RunState::kFinished) return run.state;
  LINEAGE_RETURN_IF_ERROR(archive.SetRunState(id, RunState::kQueued, json{{"control", "raise budget"}}.dump()));
  return RunState::kQueued;
}

Status RepairHome(Archive& archive) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<FsckIssue> issues, archive.Fsck(/*repair=*/true));
  for (const FsckIssue& issue : issues) {
    spdlog::warn("fsck: {}: {}{}", issue.subject, issue.problem, issue.repaired ? " (repaired)" : "");
  }
  return Status::OK();
}

std::optional<RunControl> ParseRunControl(std::string_view op) {
  if (op == "pause") return RunControl::kPause;
  if (op == "resume") return RunControl::kResume;
  if (op == "stop") return RunControl::kStop;
  return std::nullopt;
}

namespace {

// The state `control` moves a run in `from` to: `from` itself when there is nothing to do, nullopt when
// the request makes no sense.
std::optional<RunState> ControlTarget(RunState from, RunControl control) {
  using S = RunState;
  switch (control) {
    case RunControl::kPause:
      if (from == S::kRunning) return S::kPausing;
      if (from == S::kQueued) return S::kPaused;
      if (from == S::kPausing || from == S::kPaused) return from;
      return std::nullopt;
    case RunControl::kResume:
      if (from == S::kPaused || from == S::kFailed) return S::kQueued;
      if (from == S::kPausing) return S::kRunning;
      if (from == S::kQueued || from == S::kRunning) return from;  // a daemon runs it, or will
      return std::nullopt;
    case RunControl::kStop:
      if (from == S::kRunning || from == S::kPausing) return S::kStopping;
      if (from == S::kQueued || from == S::kPaused || from == S::kFailed) return S::kStopped;
      if (from == S::kStopping || from == S::kStopped) return from;
      return std::nullopt;
  }
  return std::nullopt;
}

// A stopped Slurm run's jobs are cancelled at once rather than waited for: their work is not wanted any
// more, and the run's process, seeing them lost while the run stops, finishes.
void CancelClusterJobs(const fs::path& home, const Run& run) {
  auto config = StoredRunConfig(run);
  if (!config.ok() || config->executor.kind != ExecutorConfig::Kind::kSlurm) return;
  auto cancelled = CancelSlurmJobs(SlurmJobPrefix(home, run.id));
  if (!cancelled.ok()) spdlog::warn("run {}: cannot cancel its Slurm jobs: {}", run.id, cancelled.status().message());
}

const char* ControlName(RunControl control) {
  return control == RunControl::kPause ? "pause" : control == RunControl::kResume ? "resume" : "stop";
}

}  // namespace

Result<RunState> ApplyControl(Archive& archive, RunId id, RunControl control) {
  // The loop moves the run too (running to finished, pausing to paused): when it does so between the read
  // and the write, the archive refuses the write and the request is judged again on the new state.
  for (int attempt = 0;; ++attempt) {
    LINEAGE_ASSIGN_OR_RETURN(Run run, archive.GetRun(id));
    const std::optional<RunState> next = ControlTarget(run.state, control);
    if (!next) {
      return Status::FailedPrecondition("run " + std::to_string(id) + " is " + StateName(run.state) + "; it cannot " +
                                        ControlName(control));
    }
    if (*next == run.state) {
      // Pausing a run the world's faults paused makes it the person's pause: no daemon resumes it by itself.
      if (control == RunControl::kPause && run.state == RunState::kPaused && LastPause(archive, id).fault) {
        LINEAGE_RETURN_IF_ERROR(archive.AppendEvent(Event{0, id, std::nullopt, "run.paused",
                                                          json{{"control", "pause"}, {"from", "paused"}}.dump(), 0}).status());
      }
      return run.state;
    }
    Status moved = archive.SetRunState(id, *next, json{{"control", ControlName(control)}}.dump());
    if (moved.ok() && control == RunControl::kStop) CancelClusterJobs(archive.home(), run);
    if (moved.ok()) return *next;
    if (moved.code() != Status::Code::kFailedPrecondition || attempt == 3) return moved;
  }
}

namespace {

// The pid a holder wrote ("a daemon (pid 42)"), or 0.
pid_t HolderPid(const std::string& holder) {
  const auto at = holder.rfind("(pid ");
  if (at == std::string::npos) return 0;
  return static_cast<pid_t>(std::atol(holder.c_str() + at + 5));
}

// A lock whose holder is dead is still held by a child it forked that has not yet exec'd (the descriptor
// is close-on-exec) or exited: that takes milliseconds, so wait for it rather than refuse.
bool TakeLock(int fd, const fs::path& path) {
  for (int waited_ms = 0;; waited_ms += 50) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    auto who = ReadFile(path);
    const pid_t pid = who.ok() ? HolderPid(*who) : 0;
    const bool holder_gone = pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
    if (!holder_gone || waited_ms >= 10'000) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

Result<UniqueFd> LockHomeForRuns(const fs::path& home, const std::string& holder) {
  const fs::path path = home / "daemon.lock";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Status::IOError("cannot open " + path.string() + ": " + std::strerror(errno));
  if (!TakeLock(fd.get(), path)) {
    auto who = ReadFile(path);
    return Status::FailedPrecondition(home.string() + " is in use by " +
                                      (who.ok() && !who->empty() ? *who : std::string("another lineage process")) +
                                      "; one process runs a home's runs at a time (hand runs to the daemon)");
  }
  SetHomeHolder(fd, holder);
  return fd;
}

std::optional<std::string> HomeHolder(const fs::path& home) {
  const fs::path path = home / "daemon.lock";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;  // no process ever ran this home's runs
  // A shared lock, let go at once: it is refused only while a holder has the exclusive one.
  if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;
  auto who = ReadFile(path);
  return who.ok() && !who->empty() ? *who : std::string("another lineage process");
}

void SetHomeHolder(const UniqueFd& lock, const std::string& holder) {
  // Who holds it, for the next one's message; the lock itself is the flock.
  const std::string me = holder + " (pid " + std::to_string(getpid()) + ")";
  if (ftruncate(lock.get(), 0) == 0) (void)!pwrite(lock.get(), me.data(), me.size(), 0);
}

}  // namespace lineage
