#include "orchestrator/run_services.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <chrono>
#include <thread>

#include "base/files.h"
#include "llm/gateway.h"
#include "orchestrator/evolution.h"
#include "sandbox/slurm.h"
#include "sandbox/throttled_sandbox.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

llm::ModelsConfig AgentModels(const RunConfig& config) {
  llm::ModelsConfig models = config.models;
  for (const auto& [alias, chosen] : {std::pair<std::string, std::string>{"conductor", config.conductor_model},
                                      {"expert", config.expert_model}}) {
    if (models.FindAlias(alias)) continue;
    llm::ModelConfig copy = *config.models.FindAlias(chosen);
    copy.alias = alias;
    models.models.push_back(copy);
  }
  return models;
}

AgentRuntime RunRuntime(const RunConfig& config, const fs::path& home) {
  AgentRuntime runtime;
  runtime.home = home;
  runtime.models = AgentModels(config);
  runtime.max_rounds = config.max_rounds;
  runtime.gateway_host = config.executor.gateway_host;
  return runtime;
}

std::string SlurmJobPrefix(const fs::path& home, RunId run) {
  return "lineage-" + Sha256Hex(fs::absolute(home).string()).substr(0, 8) + "-r" + std::to_string(run) + "-";
}

RunServices::RunServices(Archive& archive, Run run, RunConfig config, const EvolutionOptions& options)
    : archive(archive), run(std::move(run)), config(std::move(config)), options(options) {}

RunServices::~RunServices() = default;

Result<std::unique_ptr<RunServices>> OpenRunServices(Archive& archive, Run run, RunConfig config,
                                                     const EvolutionOptions& options) {
  auto services = std::make_unique<RunServices>(archive, std::move(run), std::move(config), options);
  LINEAGE_RETURN_IF_ERROR(services->Open());
  return services;
}

Status RunServices::Open() {
  if (!options.sandbox) return Status::Internal("no sandbox to run in");
  LINEAGE_ASSIGN_OR_RETURN(prompts, LoadPrompts());
  if (!options.replayer) LINEAGE_RETURN_IF_ERROR(CheckModelKeys(config));  // a replay calls no provider
  LINEAGE_RETURN_IF_ERROR(OpenExecutor());
  run_dir = options.home / "runs" / ("run-" + std::to_string(run.id));
  std::error_code ec;
  fs::remove_all(run_dir / "work", ec);  // scratch of attempts a crash interrupted
  fs::create_directories(run_dir / "work", ec);
  if (ec) return Status::IOError("cannot create " + run_dir.string() + ": " + ec.message());

  // Budgets count what the archive recorded before a restart.
  LINEAGE_ASSIGN_OR_RETURN(Archive::Spend spent, archive.RunSpend(run.id));
  llm::BudgetLimits limits;
  if (config.cost_usd) limits.cost_usd = std::max(0.0, *config.cost_usd - spent.cost_usd);
  if (config.tokens) limits.tokens = std::max<std::int64_t>(0, *config.tokens - spent.tokens);
  budget = std::make_shared<llm::Budget>(limits);

  runtime = RunRuntime(config, options.home);
  runtime.shared_budget = budget;
  runtime.recorder = ArchiveCallRecorder(archive);
  runtime.replayer = options.replayer;
  LINEAGE_RETURN_IF_ERROR(OpenGateway());
  started_at = Now();
  return Status::OK();
}

Status RunServices::OpenExecutor() {
  Sandbox* executor = options.sandbox;
  if (config.executor.kind == ExecutorConfig::Kind::kSlurm) {
    const ExecutorConfig& e = config.executor;
    SlurmOptions o;
    o.partition = e.partition;
    o.account = e.account;
    o.qos = e.qos;
    o.time_margin_s = e.time_margin_s;
    o.sbatch_args = e.sbatch_args;
    o.shared_dir = e.shared_dir;
    const std::string prefix = SlurmJobPrefix(options.home, run.id);
    o.job_prefix = prefix.substr(0, prefix.size() - 1);  // the executor adds its own "-"
    LINEAGE_ASSIGN_OR_RETURN(slurm_, CreateSlurmSandbox(o));
    // Jobs a killed process left are cancelled, never waited for: their work is redone, so that no result
    // of theirs can count twice.
    LINEAGE_ASSIGN_OR_RETURN(int cancelled, CancelSlurmJobs(prefix));
    Progress("slurm: sandboxed work goes to Slurm jobs named " + prefix + "*" +
             (cancelled > 0 ? "; cancelled " + std::to_string(cancelled) + " job(s) an earlier process left; their work is redone" : ""));
    executor = slurm_.get();
  }
  sandbox = std::make_unique<ThrottledSandbox>(*executor, config.sandboxes, config.sandbox_memory_bytes,
                                               config.sandbox_pids, config.sandbox_disk_bytes);
  return Status::OK();
}

Status RunServices::OpenGateway() {
  llm::GatewayOptions gateway_options;
  gateway_options.unix_socket = (run_dir / "gateway.sock").string();
  gateway_options.recorder = runtime.recorder;
  gateway_options.replayer = options.replayer;
  LINEAGE_ASSIGN_OR_RETURN(gateway, llm::Gateway::Start(config.models, gateway_options));
  llm::ModelConfig to_gateway;
  to_gateway.alias = "diagnosis";
  // Anthropic's dialect carries prompt-cache breakpoints (the diagnosis marks one after the source
  // listing); the gateway passes them to an Anthropic upstream and drops them for an OpenAI one.
  to_gateway.provider = llm::Provider::kAnthropic;
  to_gateway.base_url = "http://lineage-gateway";
  to_gateway.prompt_cache = llm::ModelConfig::PromptCache::kOff;  // the breakpoints are the prompt's own
  to_gateway.unix_socket = gateway_options.unix_socket;
  to_gateway.model = config.diagnosis_model;
  to_gateway.max_retries = 0;  // the gateway retries upstream; a 402 must not be retried
  if (const llm::ModelConfig* m = config.models.FindAlias(config.diagnosis_model)) {
    to_gateway.default_max_tokens = m->default_max_tokens;  // what the budget reserves for a diagnosis
  }
  diagnosis_model = to_gateway;  // each attempt gets a client with a token of its own
  return Status::OK();
}

std::int64_t RunServices::Now() const { return options.clock ? options.clock() : NowMillis(); }

bool RunServices::StopRequested() const { return options.stop && options.stop->load(); }

void RunServices::Sleep(std::int64_t ms) const {
  if (options.sleep) return options.sleep(ms);
  for (std::int64_t slept = 0; slept < ms && !StopRequested(); slept += 100) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::int64_t>(100, ms - slept)));
  }
}

Result<RunState> RunServices::StoredState() const {
  LINEAGE_ASSIGN_OR_RETURN(Run now, archive.GetRun(run.id));
  return now.state;
}

std::string RunServices::LowDisk() const {
  struct statvfs st;
  if (statvfs(options.home.c_str(), &st) != 0) return "";
  const std::uint64_t free = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  if (free >= config.min_free_bytes) return "";
  auto mib = [](std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; };
  return "disk: the home's file system has " + mib(free) + " free, under [sandbox] min_free (" +
         mib(config.min_free_bytes) + "); free some space, then `lineage run resume " + std::to_string(run.id) + "`";
}

Result<BuildOutcome> RunServices::Build(AgentId agent) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, archive.Tree(agent));
  return BuildAgent(options.home, tree, *sandbox, config.build_cache_bytes);
}

EvaluationOptions RunServices::EvaluationFor(AgentId agent, const BuiltAgent& built) {
  EvaluationOptions eval;
  // Evaluation spends from the run's budget too: a dollar budget is a promise about the whole run. A child
  // evaluated as the budget runs out may be judged on truncated runs; no new child starts after that.
  eval.runtime = runtime;
  eval.agent = &built;
  eval.agent_wall_ms = config.task_wall_ms;
  eval.parallel = config.sandboxes;
  eval.archive = &archive;
  eval.agent_id = agent;
  eval.run_id = run.id;
  eval.on_result = [this, agent](const TaskResult& r) {
    Progress("agent " + std::to_string(agent) + " stage " + std::to_string(r.stage) + ": " + r.task_id + " " +
             OutcomeName(r.outcome) + (r.kept ? " (recorded before)" : ""));
  };
  return eval;
}

Result<StagedResult> RunServices::EvaluateStages(AgentId agent, const BuiltAgent& built) {
  EvaluationOptions eval = EvaluationFor(agent, built);
  LINEAGE_ASSIGN_OR_RETURN(eval.existing, archive.ListEvaluations(agent));
  std::vector<StageSpec> stages = config.evaluation.stages;
  if (hgm()) stages.resize(1);
  return EvaluateStaged(stages, [this](const std::string& suite) { return suites_.Open(suite); }, eval, *sandbox);
}

Status RunServices::MoveAgent(Agent& agent, AgentState to, const std::string& reason, json data) {
  if (agent.state == to) return Status::OK();
  data["agent"] = agent.id;
  LINEAGE_RETURN_IF_ERROR(archive.SetAgentState(agent.id, to, reason, data.dump(), run.id));
  agent.state = to;
  AgentsChanged();
  if (!reason.empty()) data["reason"] = reason;
  Progress(std::string("agent.") + StateName(to) + " " + data.dump());
  return Status::OK();
}

Status RunServices::MoveToEvaluating(Agent& agent) {
  if (agent.state == AgentState::kCommitted) LINEAGE_RETURN_IF_ERROR(MoveAgent(agent, AgentState::kBuilt));
  return MoveAgent(agent, AgentState::kEvaluating);
}

void RunServices::AgentsChanged() {
  {
    std::lock_guard lock(agents_mu_);
    ++agents_changes_;
  }
  agents_cv_.notify_all();
}

bool RunServices::AwaitAgents(const std::function<bool()>& ready, std::int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::unique_lock lock(agents_mu_);
  for (;;) {
    const std::uint64_t seen = agents_changes_;
    lock.unlock();
    if (ready()) return true;
    lock.lock();
    if (StopRequested() || std::chrono::steady_clock::now() >= deadline) return false;
    agents_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return agents_changes_ != seen; });
  }
}

Status RunServices::Journal(const std::string& kind, const std::string& data, std::optional<AgentId> agent) {
  LINEAGE_RETURN_IF_ERROR(archive.AppendEvent(Event{0, run.id, agent, kind, data, 0}).status());
  Progress(kind + " " + data);
  return Status::OK();
}

void RunServices::Note(const std::string& kind, json data) {
  std::optional<AgentId> agent;
  if (data.contains("agent") && data["agent"].is_number_integer()) agent = data["agent"].get<AgentId>();
  auto appended = archive.AppendEvent(Event{0, run.id, agent, kind, data.dump(), 0});
  if (!appended.ok()) spdlog::error("cannot record event {}: {}", kind, appended.status().ToString());
  Progress(kind + " " + data.dump());
}

void RunServices::Progress(const std::string& line) {
  if (!options.on_progress) return;
  std::lock_guard lock(progress_mu_);
  options.on_progress(line);
}

void RunServices::StopServing() {
  if (gateway) gateway->Stop();
  if (!slurm_) return;
  if (auto cancelled = CancelSlurmJobs(SlurmJobPrefix(options.home, run.id)); !cancelled.ok()) {
    spdlog::warn("slurm: cannot cancel the run's jobs: {}", cancelled.status().message());
  }
}

}  // namespace lineage
