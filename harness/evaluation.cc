#include "harness/harness.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <thread>

#include "base/files.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr std::size_t kMaxLoggedPatch = 256 * 1024;

std::int64_t MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

// "cpp/all-your-base" -> "cpp__all-your-base": one directory per task.
std::string DirName(const std::string& id) {
  std::string out;
  for (char c : id) out += c == '/' ? std::string("__") : std::string(1, c);
  return out;
}

// A batch's task directories live in a private directory on /dev/shm when the sandbox's runs read this
// host's files and it has room: a task's workspace is written, read several times and removed, and a Django
// tree is 6,000 files, which cost seconds a pass on a disk and a fraction of one in memory. Else in the home.
constexpr std::uint64_t kMinFreeShm = 2ull << 30;

std::optional<fs::path> MemoryScratch() {
  const fs::path dir = "/dev/shm/lineage-" + std::to_string(geteuid());
  struct statvfs vfs;
  if (statvfs("/dev/shm", &vfs) != 0 || static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize < kMinFreeShm) {
    return std::nullopt;
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return std::nullopt;
  // /dev/shm is everyone's: only a directory of ours that no one else can enter will do.
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    spdlog::debug("{} is not a private directory of this user's: task directories go to the home", dir.string());
    return std::nullopt;
  }
  return dir;
}

// Batches that a killed process left in memory: "eval-MILLIS-PID-N" whose PID is gone.
void RemoveAbandonedBatches(const fs::path& root) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    unsigned long long millis = 0, serial = 0;
    int pid = 0;
    if (std::sscanf(name.c_str(), "eval-%llu-%d-%llu", &millis, &pid, &serial) != 3 || pid <= 0) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code ignored;
    fs::remove_all(entry.path(), ignored);
  }
}

fs::path BatchRoot(const EvaluationOptions& options, const Sandbox& sandbox) {
  if (sandbox.RunsOnThisHost()) {
    if (std::optional<fs::path> memory = MemoryScratch()) {
      RemoveAbandonedBatches(*memory);
      return *memory;
    }
  }
  return options.runtime.home / "runs";
}

// One attempt at one task. Everything that goes wrong with the task itself becomes its outcome.
class TaskAttempt {
 public:
  // `root`: the task's environment, built; empty for the host's.
  TaskAttempt(Evaluator& evaluator, const TaskInfo& task, int stage, const EvaluationOptions& options,
              Sandbox& sandbox, fs::path dir, std::string root)
      : evaluator_(evaluator), task_(task), options_(options), sandbox_(sandbox), dir_(std::move(dir)),
        root_(std::move(root)) {
    result_.task_id = task.id;
    result_.language = task.language;
    result_.stage = stage;
  }

  TaskResult Run() {
    const auto start = std::chrono::steady_clock::now();
    if (!task_.unavailable.empty()) {
      result_.outcome = Outcome::kSkipped;
      result_.detail = task_.unavailable;
    } else if (Status s = AttemptCatching(); !s.ok()) {
      // A sandboxed run the executor lost (a cluster job gone) is the world's fault: redone, never scored.
      result_.outcome = s.code() == Status::Code::kUnavailable ? Outcome::kFaulted : Outcome::kError;
      result_.detail = s.message();
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
    result_.duration_ms = MillisSince(start);
    return result_;  // a copy: Log() reads it afterwards
  }

  // The evaluation's log, stored as a blob: what the agent did and what the tests said.
  json Log() const {
    json log = {{"task", result_.task_id}, {"stage", result_.stage}, {"outcome", OutcomeName(result_.outcome)},
                {"detail", result_.detail}};
    if (options_.attempt == Attempt::kAgent) {
      log["agent"] = {{"status", result_.agent_status}, {"rounds", result_.rounds}, {"summary", summary_},
                      {"exit_code", exit_code_ ? json(*exit_code_) : json(nullptr)}, {"stderr", stderr_tail_},
                      {"tokens", result_.spend.tokens}, {"cost_usd", result_.spend.cost_usd},
                      {"model_calls", result_.spend.calls}, {"wall_ms", result_.agent_ms}};
      json steps = json::array();
      for (const std::string& line : trajectory_) {
        json step = JsonNesting(line) > kMaxNesting ? json(json::value_t::discarded) : json::parse(line, nullptr, false);
        steps.push_back(step.is_discarded() ? json(ClipText(line, 4096)) : step);
      }
      log["trajectory"] = std::move(steps);
    }
    log["patch"] = ClipText(patch_, kMaxLoggedPatch);
    log["tests"] = {{"output", result_.test_output}, {"partial", result_.partial ? json(*result_.partial) : json(nullptr)},
                    {"wall_ms", result_.test_ms}};
    return log;
  }

  std::size_t patch_bytes() const { return patch_.size(); }

 private:
  // No exception leaves a task's attempt: whatever the agent left that some library chokes on ends this
  // task, not the worker thread (nor the process).
  Status AttemptCatching() {
    try {
      return Attempt();
    } catch (const std::exception& e) {
      return Status::Internal(std::string("unexpected failure: ") + e.what());
    }
  }

  Status Attempt() {
    const fs::path workspace = dir_ / "workspace";
    auto prepared = evaluator_.Prepare(task_.id, workspace);
    if (!prepared.ok()) return prepared.status().WithContext("preparing the workspace");
    if (options_.attempt == Attempt::kAgent) {
      // RunAgent diffs the workspace before and after the agent ran; that diff is the patch.
      LINEAGE_RETURN_IF_ERROR(RunAgentOn(workspace, prepared->instruction));
      result_.non_empty_patch = !patch_.empty();
      // What the agent did while the world failed it says nothing about the agent: not scored.
      if (faults_.world > 0 || faults_.budget > 0) {
        result_.outcome = faults_.world > 0 ? Outcome::kFaulted : Outcome::kOutOfBudget;
        result_.detail = faults_.world > 0 ? std::to_string(faults_.world) + " model call(s) failed; the first: " + faults_.first_world
                                           : "the run's budget refused a model call of the agent's";
        return Status::OK();
      }
      if (result_.agent_status == "bad_workspace") {  // its answer is not readable: a failure of its own
        result_.outcome = Outcome::kFailed;
        result_.detail = summary_;
        return Status::OK();
      }
    } else {
      LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> before, ReadTree(workspace));
      if (options_.attempt == Attempt::kGold) {
        if (Status s = evaluator_.ApplyGold(task_.id, workspace); s.code() == Status::Code::kNotFound) {
          // No reference solution that could pass here: gold validation can say nothing of this task.
          result_.outcome = Outcome::kSkipped;
          result_.detail = "no reference solution to try: " + s.message();
          return Status::OK();
        } else if (!s.ok()) {
          return s.WithContext("applying the reference solution");
        }
      }
      LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> after, ReadTree(workspace));
      result_.non_empty_patch = before != after;
      if (result_.non_empty_patch) {
        auto diff = DiffTrees(before, after);
        if (diff.ok()) patch_ = diff->patch;
      }
    }
    if (options_.attempt == Attempt::kAgent && !result_.non_empty_patch) {
      result_.outcome = Outcome::kEmptyPatch;
      result_.detail = "the agent changed nothing (" + result_.agent_status + ")";
      return Status::OK();
    }

    const fs::path scratch = dir_ / "scratch";
    std::error_code ec;
    fs::create_directories(scratch, ec);
    if (ec) return Status::IOError("cannot create " + scratch.string() + ": " + ec.message());
    auto score = evaluator_.Score(task_.id, workspace, ScoreContext{&sandbox_, scratch, root_});
    if (!score.ok()) return score.status().WithContext("scoring");
    result_.partial = score->partial;
    result_.already_passing = score->already_passing;
    result_.test_output = std::move(score->output);
    result_.test_ms = score->duration_ms;
    result_.outcome = score->solved ? Outcome::kSolved : score->timed_out ? Outcome::kTimeout : Outcome::kFailed;
    if (!score->solved && options_.attempt == Attempt::kAgent && result_.agent_status != "finished") {
      result_.detail = "the agent ended with " + result_.agent_status;
    }
    return Status::OK();
  }

  Status RunAgentOn(const fs::path& workspace, const std::string& instruction) {
    if (!options_.agent) return Status::Internal("an agent evaluation needs a built agent");
    AgentRunOptions run;
    run.runtime = options_.runtime;
    run.workspace = workspace;
    run.root = root_;
    run.workspace_inside = task_.workspace_inside;
    run.instruction = instruction;
    run.task_id = task_.id;
    run.wall_ms = options_.agent_wall_ms.value_or(task_.agent_timeout_ms > 0 ? task_.agent_timeout_ms : 600'000);
    run.attribution = llm::Attribution{options_.run_id, options_.agent_id, task_.id, "evaluate"};
    if (!run.runtime.recorder && options_.archive) run.runtime.recorder = ArchiveCallRecorder(*options_.archive);
    auto ran = RunAgent(*options_.agent, run, sandbox_);
    if (!ran.ok()) return ran.status().WithContext("running the agent");
    AgentRunResult& r = ran.value();
    result_.agent_status = r.status;
    result_.rounds = r.rounds;
    result_.spend = r.spend;
    result_.agent_ms = r.process.wall_ms;
    summary_ = r.summary;
    exit_code_ = r.process.exit_code;
    stderr_tail_ = r.process.stderr_text.size() > 4096 ? r.process.stderr_text.substr(r.process.stderr_text.size() - 4096)
                                                       : r.process.stderr_text;
    trajectory_ = std::move(r.trajectory);
    patch_ = std::move(r.diff.patch);
    faults_ = r.faults;
    // The trajectory now lives in the evaluation log; the run's directory has served its purpose.
    std::error_code ec;
    fs::remove_all(r.output_dir.parent_path(), ec);
    return Status::OK();
  }

  Evaluator& evaluator_;
  const TaskInfo& task_;
  const EvaluationOptions& options_;
  Sandbox& sandbox_;
  fs::path dir_;
  std::string root_;
  TaskResult result_;
  std::string summary_, stderr_tail_, patch_;
  std::optional<int> exit_code_;
  std::vector<std::string> trajectory_;
  llm::Gateway::Faults faults_;
};

Status Record(const TaskAttempt& attempt, const TaskResult& r, const EvaluationOptions& options) {
  if (!options.archive || !options.agent_id) return Status::OK();
  LINEAGE_ASSIGN_OR_RETURN(std::string blob,
                           options.archive->PutBlob(attempt.Log().dump(2, ' ', false, json::error_handler_t::replace)));
  Evaluation e;
  e.agent_id = *options.agent_id;
  e.suite = options.suite_name;
  e.task_id = r.task_id;
  e.stage = r.stage;
  e.outcome = r.outcome;
  e.score = r.outcome == Outcome::kSolved ? std::optional<double>(1.0) : r.partial;
  e.duration_ms = r.duration_ms;
  e.patch_bytes = static_cast<std::int64_t>(attempt.patch_bytes());
  e.log_blob = blob;
  return options.archive->RecordEvaluation(e).status();
}

// The recorded result of a task evaluated before (a resumed run), if there is one.
std::optional<TaskResult> Existing(const EvaluationOptions& options, const TaskInfo& task, int stage) {
  for (const Evaluation& e : options.existing) {
    if (e.suite != options.suite_name || e.task_id != task.id) continue;
    if (!IsResult(e.outcome)) return std::nullopt;  // the world or the budget cut it short: run again
    TaskResult r;
    r.task_id = task.id;
    r.language = task.language;
    r.stage = stage;
    r.outcome = e.outcome;
    r.partial = e.score;
    r.non_empty_patch = e.patch_bytes > 0;
    r.duration_ms = e.duration_ms;
    r.detail = "kept from an earlier attempt";
    r.kept = true;
    return r;
  }
  return std::nullopt;
}

// The environments `tasks` run in, built now if they are not (before the first task, so that no task's time
// limit pays for a build), by recipe hash.
Result<std::map<std::string, std::string>> BuildEnvironments(const std::vector<TaskInfo>& tasks,
                                                             const EvaluationOptions& options) {
  std::map<std::string, std::string> roots;
  for (const TaskInfo& task : tasks) {
    if (!task.environment || !task.unavailable.empty() || roots.count(RecipeHash(*task.environment))) continue;
    std::function<void(const std::string&)> progress = options.on_environment;
    if (!progress) progress = [](const std::string& line) { spdlog::info("environment {}", line); };
    const fs::path& home = options.environments_home.empty() ? options.runtime.home : options.environments_home;
    LINEAGE_ASSIGN_OR_RETURN(EnvironmentInfo env, EnsureEnvironment(home, *task.environment, progress));
    roots[RecipeHash(*task.environment)] = env.root.string();
  }
  return roots;
}

}  // namespace

Result<std::vector<TaskResult>> EvaluateTasks(Evaluator& evaluator, const std::vector<TaskInfo>& tasks, int stage,
                                              const EvaluationOptions& options, Sandbox& sandbox) {
  if (options.attempt == Attempt::kAgent && !options.agent) return Status::Internal("no agent to evaluate");
  LINEAGE_ASSIGN_OR_RETURN(const auto roots, BuildEnvironments(tasks, options));
  static std::atomic<int> serial{0};
  const fs::path batch_dir = BatchRoot(options, sandbox) /
                             ("eval-" + std::to_string(NowMillis()) + "-" + std::to_string(getpid()) + "-" +
                              std::to_string(serial++));
  std::vector<TaskResult> results(tasks.size());
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    for (std::size_t i = next++; i < tasks.size(); i = next++) {
      {
        std::lock_guard lock(mu);
        if (!first_error.ok()) return;
        if (options.on_start) options.on_start(tasks[i]);
      }
      if (std::optional<TaskResult> kept = Existing(options, tasks[i], stage)) {
        std::lock_guard lock(mu);
        if (options.on_result) options.on_result(*kept);
        results[i] = std::move(*kept);
        continue;
      }
      const std::string root = tasks[i].environment ? roots.at(RecipeHash(*tasks[i].environment)) : "";
      TaskAttempt attempt(evaluator, tasks[i], stage, options, sandbox, batch_dir / DirName(tasks[i].id), root);
      TaskResult r = attempt.Run();
      Status recorded = Record(attempt, r, options);
      std::lock_guard lock(mu);
      if (!recorded.ok() && first_error.ok()) first_error = recorded.WithContext("recording " + r.task_id);
      if (options.on_result) options.on_result(r);
      results[i] = std::move(r);
    }
  };
  const int threads = std::max(1, std::min<int>(options.parallel, static_cast<int>(tasks.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  std::error_code ec;
  fs::remove_all(batch_dir, ec);
  if (!first_error.ok()) return first_error;
  return results;
}

Result<StagedResult> EvaluateStaged(const std::vector<StageSpec>& stages, const SuiteOpener& open_suite,
                                    EvaluationOptions options, Sandbox& sandbox) {
  StagedResult out;
  std::set<std::string> done;  // "suite\ttask"
  int attempted = 0, solved = 0;
  for (const StageSpec& stage : stages) {
    LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, open_suite(stage.suite));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, StageTasks(stage, *evaluator));
    std::erase_if(tasks, [&](const TaskInfo& t) { return done.count(stage.suite + "\t" + t.id) > 0; });
    for (const TaskInfo& t : tasks) done.insert(stage.suite + "\t" + t.id);
    options.suite_name = stage.suite;
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskResult> results, EvaluateTasks(*evaluator, tasks, stage.number, options, sandbox));
    for (const TaskResult& r : results) {
      const Disposition d = DispositionOf(r.outcome);
      if (d != Disposition::kRedoWorldFault && d != Disposition::kRedoBudget) continue;
      if (!out.interrupted || d == Disposition::kRedoWorldFault) {
        const std::string why = r.task_id + ": " + r.detail;
        out.interrupted = d == Disposition::kRedoWorldFault ? Interruption::WorldFault(why) : Interruption::Budget(why);
      }
    }
    if (out.interrupted) {
      for (TaskResult& r : results) out.results.push_back(std::move(r));
      return out;  // unjudged: no stage score, no verdict
    }
    StageScore score{.stage = stage.number};
    for (TaskResult& r : results) {
      if (Counts(r.outcome)) ++score.attempted;
      if (r.outcome == Outcome::kSolved) ++score.solved;
      out.results.push_back(std::move(r));
    }
    if (score.attempted > 0) score.score = static_cast<double>(score.solved) / score.attempted;
    attempted += score.attempted;
    solved += score.solved;
    out.stages.push_back(score);
    out.stage_reached = stage.number;
    if (attempted > 0) out.score = static_cast<double>(solved) / attempted;
    if (options.archive && options.agent_id) {
      LINEAGE_RETURN_IF_ERROR(options.archive->RecordStageScore(*options.agent_id, score));
    }
    const bool advance = stage.threshold <= 0 || (out.score && *out.score >= stage.threshold);
    if (!advance) break;
  }
  return out;
}

}  // namespace lineage
