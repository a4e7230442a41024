// The exec format: an external evaluator program, in any language, answering JSON requests
// (docs/evaluators.md). lineage starts the program once per request, writes one JSON line to its standard
// input and reads one JSON object from the last line of its standard output.
//
// list, prepare and gold run on the host: the program is the user's trusted plug-in and may read its
// benchmark wherever it lives. score runs in a fresh sandbox, because it executes code the agent wrote:
// there the program sees its own directory (read-only) and the workspace copy at /workspace, and nothing
// else of the host. Its verdict is evidence, not a printed line: the program writes it to the report file
// the request names, with the request's nonce and the count of tests it ran and passed (protocol 2).
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "evaluators/formats.h"
#include "evaluators/scoring.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kExecProtocol = 2;
constexpr const char* kScoreReport = "result.json";  // in $LINEAGE_REPORT_DIR
constexpr std::size_t kMaxShown = 300;

std::string Clip(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > kMaxShown) text = "..." + text.substr(text.size() - kMaxShown);
  return text;
}

std::string LastLine(const std::string& text) {
  std::size_t end = text.find_last_not_of("\r\n \t");
  if (end == std::string::npos) return "";
  std::size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start == std::string::npos ? 0 : start + 1));
}

struct ExecTask {
  TaskInfo info;
  std::int64_t test_timeout_ms = 120'000;
  std::optional<std::int64_t> tests;  // how many tests the task holds, when the program says
};

class ExecEvaluator : public IndexedEvaluator<ExecTask> {
 public:
  static Result<std::unique_ptr<Evaluator>> Open(const SuiteSpec& spec) {
    std::unique_ptr<ExecEvaluator> e(new ExecEvaluator(spec));
    if (!fs::is_regular_file(spec.path) || access(spec.path.c_str(), X_OK) != 0) {
      return Status::NotFound("exec suite '" + spec.name + "': " + spec.path.string() +
                              " is not an executable program");
    }
    LINEAGE_RETURN_IF_ERROR(RefuseSharedDirectory(spec));
    LINEAGE_RETURN_IF_ERROR(e->LoadList());
    return std::unique_ptr<Evaluator>(std::move(e));
  }

  Result<PreparedTask> Prepare(const std::string& id, const fs::path& workspace) override {
    LINEAGE_RETURN_IF_ERROR(Find(id).status());
    std::error_code ec;
    fs::create_directories(workspace, ec);
    LINEAGE_ASSIGN_OR_RETURN(json reply, Call(Request("prepare", id, fs::absolute(workspace).string()), OnHost()));
    if (!reply.contains("instruction") || !reply["instruction"].is_string()) {
      return ProtocolError("prepare", id, "the reply has no \"instruction\" string");
    }
    return PreparedTask{reply["instruction"].get<std::string>()};
  }

  Status ApplyGold(const std::string& id, const fs::path& workspace) override {
    LINEAGE_RETURN_IF_ERROR(Find(id).status());
    return Call(Request("gold", id, fs::absolute(workspace).string()), OnHost()).status();
  }

  Result<TaskScore> Score(const std::string& id, const fs::path& workspace, const ScoreContext& context) override {
    LINEAGE_ASSIGN_OR_RETURN(const ExecTask* task, Find(id));
    const std::string nonce = RandomHex(16);
    json request = Request("score", id, "/workspace");
    request["report"] = std::string(kReportDirInside) + "/" + kScoreReport;
    request["nonce"] = nonce;
    TestRun run;
    run.argv = Argv();
    run.stdin_data = request.dump() + "\n";
    run.timeout_ms = task->test_timeout_ms;
    const std::string dir = fs::absolute(spec_.path).parent_path().string();
    run.mounts.push_back({SandboxMount::Kind::kReadOnly, dir, dir});
    // A program that does not answer in time is broken, not the agent: it should time its own tests out.
    LINEAGE_ASSIGN_OR_RETURN(TestRunResult r, RunOnCopy(workspace, run, context));
    LINEAGE_RETURN_IF_ERROR(Failure("score", id, r.process, run.timeout_ms));
    const TreeEntry* report = nullptr;
    for (const TreeEntry& e : r.reports) {
      if (e.path == kScoreReport && e.kind != TreeEntry::Kind::kSymlink) report = &e;
    }
    if (r.process.exit_code != 0) {  // a verdict from a program that then failed is not believed
      return ProtocolError("score", id, "exited with status " + std::to_string(r.process.exit_code.value_or(-1)) +
                                            (report ? "" : " without a reply") + "; stderr: " + Clip(r.process.stderr_text));
    }
    if (!report) {
      return ProtocolError("score", id, std::string("wrote no reply to the request's \"report\" file (") +
                                            request["report"].get<std::string>() + "); exec protocol 2 takes the "
                                            "verdict from there, never from standard output (docs/evaluators.md)" +
                                            (r.process.stderr_text.empty() ? "" : "; stderr: " + Clip(r.process.stderr_text)));
    }
    json reply = JsonNesting(report->data) > kMaxNesting ? json(json::value_t::discarded) : json::parse(report->data, nullptr, false);
    if (!reply.is_object()) return ProtocolError("score", id, "the report is not a JSON object: '" + Clip(report->data) + "'");
    if (!reply.contains("solved") || !reply["solved"].is_boolean()) {
      return ProtocolError("score", id, "the reply has no \"solved\" boolean");
    }
    TaskScore score;
    score.duration_ms = r.process.wall_ms;
    if (reply.contains("score")) {
      if (!reply["score"].is_number() || reply["score"].get<double>() < 0 || reply["score"].get<double>() > 1) {
        return ProtocolError("score", id, "\"score\" must be a number from 0 to 1");
      }
      score.partial = reply["score"].get<double>();
    }
    if (reply.contains("output") && reply["output"].is_string()) score.output = reply["output"].get<std::string>();
    if (score.output.size() > kMaxTestOutputBytes) score.output.resize(kMaxTestOutputBytes);
    const std::string doubt = Doubt(reply, nonce, *task);
    score.solved = reply["solved"].get<bool>() && doubt.empty();
    if (!doubt.empty()) score.output += "\n[lineage: not solved: " + doubt + "]\n";
    return score;
  }

 private:
  explicit ExecEvaluator(SuiteSpec spec) : IndexedEvaluator("exec"), spec_(std::move(spec)) {}

  // The program's directory is visible (read-only) inside the scoring sandbox, next to the agent's code, so
  // it must be a directory of its own: never the home directory or a system-wide one.
  static Status RefuseSharedDirectory(const SuiteSpec& spec) {
    const fs::path dir = fs::weakly_canonical(fs::absolute(spec.path)).parent_path();
    std::vector<fs::path> shared = {"/", "/tmp", "/home", "/root", "/etc", "/usr", "/usr/bin", "/usr/local/bin", "/bin"};
    if (const char* home = std::getenv("HOME"); home && *home) shared.push_back(fs::weakly_canonical(home));
    for (const fs::path& s : shared) {
      if (dir == s) {
        return Status::InvalidArgument("exec suite '" + spec.name + "': " + spec.path.string() + " lives in " +
                                       dir.string() + ", which the scoring sandbox would expose to the agent's code; "
                                       "put the program in a directory of its own");
      }
    }
    return Status::OK();
  }

  std::vector<std::string> Argv() const {
    std::vector<std::string> argv = {fs::absolute(spec_.path).string()};
    argv.insert(argv.end(), spec_.args.begin(), spec_.args.end());
    return argv;
  }

  // Why a reply's "solved" cannot be believed; empty when it can: the nonce of this request, and tests
  // that ran (as many as the task holds, when the list said) and all passed.
  static std::string Doubt(const json& reply, const std::string& nonce, const ExecTask& task) {
    if (!reply.contains("nonce") || reply["nonce"] != nonce) return "the report does not carry this request's nonce";
    auto count = [&](const char* key) {
      return reply.contains(key) && reply[key].is_number_integer() ? reply[key].get<std::int64_t>() : std::int64_t{-1};
    };
    const std::int64_t passed = count("tests_passed"), total = count("tests_total");
    if (total <= 0) return "the report gives no \"tests_total\" above 0: no test is known to have run";
    if (passed != total) return std::to_string(passed) + " of " + std::to_string(total) + " tests passed";
    if (task.tests && total != *task.tests) {
      return std::to_string(total) + " tests ran, but the task holds " + std::to_string(*task.tests);
    }
    return "";
  }

  static json Request(const char* op, const std::string& task, const std::string& workspace) {
    json r = {{"protocol", kExecProtocol}, {"op", op}};
    if (!task.empty()) r["task"] = task;
    if (!workspace.empty()) r["workspace"] = workspace;
    return r;
  }

  // A host run: the program's own directory as working directory, the user's PATH (a plug-in may need
  // the interpreter the user installed), the request timeout.
  SandboxSpec OnHost() const {
    SandboxSpec spec;
    spec.argv = Argv();
    spec.workdir = fs::absolute(spec_.path).parent_path().string();
    for (const char* name : {"PATH", "HOME"}) {
      if (const char* value = std::getenv(name)) spec.env[name] = value;
    }
    spec.limits.wall_ms = spec_.request_timeout_ms;
    spec.limits.cpu_seconds = std::max<std::int64_t>(10, spec_.request_timeout_ms / 1000 * 2);
    spec.limits.output_bytes = 64ull << 20;
    return spec;
  }

  Status ProtocolError(const std::string& op, const std::string& task, const std::string& what) const {
    return Status::InvalidArgument("evaluator program " + spec_.path.string() + ", " + op +
                                   (task.empty() ? "" : " of task " + task) + ": " + what);
  }

  Result<json> Call(const json& request, SandboxSpec spec) const {
    spec.stdin_data = request.dump() + "\n";
    LINEAGE_ASSIGN_OR_RETURN(SandboxResult r, RunTrusted(spec));
    const std::string op = request["op"].get<std::string>(), task = request.value("task", "");
    LINEAGE_RETURN_IF_ERROR(Failure(op, task, r, spec.limits.wall_ms));
    return ParseReply(op, task, r.exit_code.value_or(-1), r.stdout_text, r.stderr_text);
  }

  // Why a run of the program gave no answer (killed, a limit, a crash); OK when it exited.
  Status Failure(const std::string& op, const std::string& task, const SandboxResult& r, std::int64_t timeout_ms) const {
    if (r.limit == SandboxLimit::kWall) {
      return ProtocolError(op, task, "no answer within " + std::to_string(timeout_ms / 1000) + " s; it was killed");
    }
    if (r.limit) return ProtocolError(op, task, std::string("hit the ") + SandboxLimitName(*r.limit) + " limit");
    if (r.signal) {
      return ProtocolError(op, task, "crashed (signal " + std::to_string(*r.signal) + "); stderr: " + Clip(r.stderr_text));
    }
    return Status::OK();
  }

  Result<json> ParseReply(const std::string& op, const std::string& task, int exit_code, const std::string& out,
                          const std::string& err) const {
    const std::string line = LastLine(out);
    json reply = json::parse(line, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
      if (exit_code != 0) {
        return ProtocolError(op, task, "exited with status " + std::to_string(exit_code) + " without a reply; stderr: " +
                                           Clip(err));
      }
      return ProtocolError(op, task, line.empty() ? "printed nothing" : "printed garbage, not a JSON object: '" + Clip(line) + "'");
    }
    if (reply.contains("error")) {
      std::string message = reply["error"].is_string() ? reply["error"].get<std::string>() : reply["error"].dump();
      if (reply.value("code", "") == "not_found") return Status::NotFound(task + ": " + message);
      return ProtocolError(op, task, "reported an error: " + message);
    }
    return reply;
  }

  Status LoadList() {
    LINEAGE_ASSIGN_OR_RETURN(json reply, Call(Request("list", "", ""), OnHost()));
    if (!reply.contains("tasks") || !reply["tasks"].is_array()) {
      return ProtocolError("list", "", "the reply has no \"tasks\" array");
    }
    for (const json& t : reply["tasks"]) {
      if (!t.is_object() || !t.contains("id") || !t["id"].is_string() || t["id"].get<std::string>().empty()) {
        return ProtocolError("list", "", "every task needs a non-empty \"id\" string; got " + Clip(t.dump()));
      }
      ExecTask task;
      task.info.id = t["id"].get<std::string>();
      task.info.language = t.value("language", "");
      if (t.contains("tags") && t["tags"].is_array()) {
        for (const json& tag : t["tags"]) {
          if (tag.is_string()) task.info.tags.push_back(tag.get<std::string>());
        }
      }
      task.info.unavailable = t.value("unavailable", "");
      task.info.agent_timeout_ms = static_cast<std::int64_t>(t.value("agent_timeout_s", 600.0) * 1000);
      task.test_timeout_ms = static_cast<std::int64_t>(t.value("test_timeout_s", 120.0) * 1000);
      if (t.contains("tests")) {
        if (!t["tests"].is_number_integer() || t["tests"].get<std::int64_t>() <= 0) {
          return ProtocolError("list", task.info.id, "\"tests\" must be a positive integer (how many tests the task holds)");
        }
        task.tests = t["tests"].get<std::int64_t>();
      }
      if (task.test_timeout_ms <= 0 || task.info.agent_timeout_ms <= 0) {
        return ProtocolError("list", task.info.id, "timeouts must be positive");
      }
      if (!tasks_.emplace(task.info.id, task).second) return ProtocolError("list", task.info.id, "listed twice");
    }
    if (reply.contains("subsets") && reply["subsets"].is_object()) {
      for (const auto& [name, ids] : reply["subsets"].items()) {
        if (!ids.is_array()) return ProtocolError("list", "", "subset " + name + " must be an array of ids");
        for (const json& id : ids) {
          if (id.is_string()) subsets_[name].push_back(id.get<std::string>());
        }
      }
    }
    return Status::OK();
  }

  SuiteSpec spec_;
};

}  // namespace

Result<std::unique_ptr<Evaluator>> OpenExec(const SuiteSpec& spec) { return ExecEvaluator::Open(spec); }

}  // namespace lineage
