// `lineage sandbox check` and `lineage sandbox run`: see what isolation this host gives, and run any
// command exactly as an agent's would run.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "base/files.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_json.h"
#include "sandbox/slurm.h"

namespace lineage::cli {
namespace {

using json = nlohmann::json;

Status Check() {
  HostSupport h = DetectHost();
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  std::printf("bubblewrap       %s\n", h.bwrap_path.empty() ? "missing" : (h.bwrap_path + "  " + h.bwrap_version).c_str());
  std::printf("user namespaces  %s\n", yes(h.user_namespaces));
  std::printf("seccomp          %s\n", yes(h.seccomp));
  std::printf("cgroups          %s (memory: %s, pids: %s)\n",
              h.cgroup_version ? ("v" + std::to_string(h.cgroup_version)).c_str() : "unusable", yes(h.cgroup_memory),
              yes(h.cgroup_pids));
  if (!h.problem.empty()) return Status::FailedPrecondition(h.problem);
  LINEAGE_ASSIGN_OR_RETURN(auto sandbox, Sandbox::Create(Sandbox::Backend::kBwrap));
  std::printf("limits enforced:\n");
  for (const std::string& line : sandbox->EnforcedLimits()) std::printf("  %s\n", line.c_str());
  return Status::OK();
}

// What a Slurm job's node enforces: one sandboxed run through the executor (timed from submission to its
// result), then `lineage sandbox check` run on a node.
Status CheckSlurm(const std::string& shared_dir) {
  if (shared_dir.empty()) return Status::InvalidArgument("--executor slurm needs --shared-dir DIR (a directory every node sees)");
  SlurmOptions options;
  options.shared_dir = std::filesystem::absolute(shared_dir);
  options.job_prefix = "lineage-check";
  LINEAGE_ASSIGN_OR_RETURN(auto sandbox, CreateSlurmSandbox(options));
  SandboxSpec spec;
  spec.argv = {"sh", "-c", "echo sandboxed on $(hostname)"};
  spec.limits.wall_ms = 60'000;
  spec.tag = "lineage sandbox check";
  const std::int64_t start = NowMillis();
  LINEAGE_ASSIGN_OR_RETURN(SandboxResult r, sandbox->Run(spec));
  if (!r.ok()) return Status::FailedPrecondition("the sandboxed job failed on the node: " + r.stderr_text + r.stdout_text);
  std::printf("slurm            a sandboxed job ran: %s, %.1f s from submission to its result\n",
              r.stdout_text.substr(0, r.stdout_text.find('\n')).c_str(), (NowMillis() - start) / 1000.0);
  std::error_code ec;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  const std::filesystem::path out = options.shared_dir / ("check-" + RandomHex(4) + ".out");
  SandboxSpec check;
  check.argv = {"sbatch", "--wait", "--quiet", "--job-name=lineage-check", "--output=" + out.string(),
                "--wrap=exec '" + self + "' sandbox check"};
  check.limits.wall_ms = 300'000;
  LINEAGE_ASSIGN_OR_RETURN(SandboxResult node, RunTrusted(check));
  auto text = ReadFile(out);
  std::filesystem::remove(out, ec);
  std::printf("on a node:\n");
  for (std::size_t at = 0; text.ok() && at < text->size();) {
    std::size_t end = text->find('\n', at);
    if (end == std::string::npos) end = text->size();
    std::printf("  %s\n", text->substr(at, end - at).c_str());
    at = end + 1;
  }
  if (!node.ok()) return Status::FailedPrecondition("lineage sandbox check failed on the node (" + node.stderr_text + ")");
  return Status::OK();
}

struct RunArgs {
  double wall = 600, cpu = 600;
  std::string memory = "4G", output = "1M", disk = "2G";
  int pids = SandboxLimits{}.pids;
  std::vector<std::string> binds, ro_binds, envs, command;
  std::string workdir;
  bool json = false, unsafe = false;
};

Result<SandboxMount> ParseBind(const std::string& text, SandboxMount::Kind kind, const char* flag) {
  size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size() || text[colon + 1] != '/') {
    return Status::InvalidArgument(std::string(flag) + " '" + text +
                                   "' is not HOST:INSIDE (INSIDE an absolute path, such as .:/workspace)");
  }
  std::error_code ec;
  std::string host = std::filesystem::absolute(text.substr(0, colon), ec).string();
  return SandboxMount{kind, host, text.substr(colon + 1), 0};
}

Result<SandboxSpec> BuildSpec(const RunArgs& args) {
  SandboxSpec spec;
  spec.argv = args.command;
  if (args.wall <= 0) return Status::InvalidArgument("--wall " + std::to_string(args.wall) + " must be positive");
  if (args.cpu < 1) return Status::InvalidArgument("--cpu must be at least 1 second");
  if (args.pids < 1) return Status::InvalidArgument("--pids must be at least 1");
  spec.limits.wall_ms = static_cast<std::int64_t>(args.wall * 1000);
  spec.limits.cpu_seconds = static_cast<std::int64_t>(args.cpu);
  spec.limits.pids = args.pids;
  LINEAGE_ASSIGN_OR_RETURN(spec.limits.memory_bytes, ParseSize(args.memory, "--memory"));
  LINEAGE_ASSIGN_OR_RETURN(spec.limits.output_bytes, ParseSize(args.output, "--output"));
  LINEAGE_ASSIGN_OR_RETURN(spec.limits.disk_bytes, ParseSize(args.disk, "--disk"));
  for (const std::string& b : args.binds) {
    LINEAGE_ASSIGN_OR_RETURN(SandboxMount m, ParseBind(b, SandboxMount::Kind::kReadWrite, "--bind"));
    spec.mounts.push_back(m);
  }
  for (const std::string& b : args.ro_binds) {
    LINEAGE_ASSIGN_OR_RETURN(SandboxMount m, ParseBind(b, SandboxMount::Kind::kReadOnly, "--ro-bind"));
    spec.mounts.push_back(m);
  }
  for (const std::string& e : args.envs) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--env '" + e + "' is not NAME=VALUE");
    }
    spec.env[e.substr(0, eq)] = e.substr(eq + 1);
  }
  // Like an agent: start in the (first) writable bind, or in the private /tmp.
  spec.workdir = !args.workdir.empty() ? args.workdir : !args.binds.empty() ? spec.mounts[0].inside : "/tmp";
  return spec;
}

Status RunCommand(const RunArgs& args) {
  LINEAGE_ASSIGN_OR_RETURN(SandboxSpec spec, BuildSpec(args));
  LINEAGE_ASSIGN_OR_RETURN(auto sandbox,
                           Sandbox::Create(args.unsafe ? Sandbox::Backend::kNone : Sandbox::Backend::kBwrap));
  LINEAGE_ASSIGN_OR_RETURN(SandboxResult r, sandbox->Run(spec));
  if (args.json) {
    // The result's one mapping (sandbox_json.h), so that every field of it shows here; for people and
    // scripts, a limit by its name and the output as text, not the job files' number and base64.
    json out = SandboxResultToJson(r);
    out["limit"] = r.limit ? json(SandboxLimitName(*r.limit)) : json(nullptr);
    out["stdout"] = r.stdout_text;
    out["stderr"] = r.stderr_text;
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return Status::OK();
  }
  std::fwrite(r.stdout_text.data(), 1, r.stdout_text.size(), stdout);
  std::fflush(stdout);
  std::fwrite(r.stderr_text.data(), 1, r.stderr_text.size(), stderr);
  std::string how = r.exit_code ? "exit " + std::to_string(*r.exit_code) : "signal " + std::to_string(r.signal.value_or(0));
  if (r.limit) how += ", ended by the " + std::string(SandboxLimitName(*r.limit)) + " limit";
  std::fprintf(stderr, "sandbox: %s; wall %lld ms, cpu %lld ms, peak memory %.1f MiB\n", how.c_str(),
               static_cast<long long>(r.wall_ms), static_cast<long long>(r.cpu_ms), r.peak_memory_bytes / 1048576.0);
  return Status::OK();
}

}  // namespace

void RegisterSandboxCommands(CLI::App& app, Context& ctx) {
  auto* sandbox = app.add_subcommand("sandbox", "Check this host's isolation, or run a command in a sandbox");
  sandbox->require_subcommand(1);
  auto executor = std::make_shared<std::pair<std::string, std::string>>("local", "");
  auto* check = sandbox->add_subcommand("check", "Show what isolation this host supports and which limits are enforced");
  check->add_option("--executor", executor->first, "local, or slurm: submit a job and report what the nodes enforce")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  check->add_option("--shared-dir", executor->second, "slurm: a directory every node sees at the same path");
  check->callback([&ctx, executor] {
    ctx.action = [executor] { return executor->first == "slurm" ? CheckSlurm(executor->second) : Check(); };
  });
  auto job_dir = std::make_shared<std::string>();
  auto* exec = sandbox->add_subcommand("exec", "Run a Slurm job's sandbox on this node (the Slurm executor's jobs "
                                               "run this; docs/slurm.md)");
  exec->group("");  // not for people
  exec->add_option("JOBDIR", *job_dir, "the job's directory, holding spec.json")->required();
  exec->callback([&ctx, job_dir] { ctx.action = [job_dir] { return RunSandboxJob(*job_dir); }; });

  auto args = std::make_shared<RunArgs>();
  auto* run = sandbox->add_subcommand(
      "run", "Run CMD exactly as an agent's command runs (same defaults); exits 0 whenever the sandbox ran");
  run->add_option("--wall", args->wall, "wall-clock limit in seconds")->capture_default_str();
  run->add_option("--cpu", args->cpu, "CPU-time limit in seconds, per process")->capture_default_str();
  run->add_option("--memory", args->memory, "memory limit, such as 512M")->capture_default_str();
  run->add_option("--pids", args->pids, "most processes at once")->capture_default_str();
  run->add_option("--output", args->output, "captured bytes per stream; more ends the run")->capture_default_str();
  run->add_option("--disk", args->disk, "bytes each writable --bind may hold (a private file system); more ends "
                                        "the run")->capture_default_str();
  run->add_option("--bind", args->binds, "HOST:INSIDE, a directory whose files the command may change; they "
                                         "come back to HOST when it ends (repeatable)")->allow_extra_args(false);
  run->add_option("--ro-bind", args->ro_binds, "HOST:INSIDE, read-only (repeatable)")->allow_extra_args(false);
  run->add_option("--workdir", args->workdir, "working directory inside (default: the first --bind, else /tmp)");
  run->add_option("--env", args->envs, "NAME=VALUE added to the clean environment (repeatable)")->allow_extra_args(false);
  run->add_flag("--json", args->json, "print one JSON object with the result instead of passing output through");
  run->add_flag("--unsafe-no-sandbox", args->unsafe, "run WITHOUT isolation (only for code you trust)");
  run->add_option("CMD", args->command, "the command and its arguments, after --")->required();
  run->callback([&ctx, args] { ctx.action = [args] { return RunCommand(*args); }; });
}

}  // namespace lineage::cli
