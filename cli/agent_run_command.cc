// `lineage agent run`: build an agent (cached by its tree) and run it in the sandbox, through the gateway,
// on any directory, exactly as lineage runs agents during evolution.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "cli/commands.h"
#include "llm/llm.h"
#include "harness/harness.h"

namespace lineage::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct RunArgs {
  std::string agent, workspace, instruction, models;
  int max_rounds = 30;
  double wall = 1800;
  std::optional<std::int64_t> max_tokens, max_calls;
  std::optional<double> max_cost;
  bool json = false, unsafe = false;
};

bool IsNumber(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// The agent's tree: an archive variant (by id) or a directory.
Result<std::vector<TreeEntry>> LoadAgentTree(const std::string& which, const fs::path& home, Archive* archive,
                                             std::optional<AgentId>* id) {
  std::error_code ec;
  if (fs::is_directory(which, ec)) return ReadTree(which);
  if (!IsNumber(which)) return Status::NotFound("'" + which + "' is neither a directory nor an agent id");
  if (!archive) return Status::FailedPrecondition("agent " + which + ": there is no archive at " + home.string());
  *id = std::stoll(which);
  return archive->Tree(**id);
}

int Count(const std::vector<std::string>& trajectory, const std::string& type) {
  int n = 0;
  for (const std::string& line : trajectory) {
    if (JsonNesting(line) > kMaxNesting) continue;
    json step = json::parse(line, nullptr, false);
    if (step.is_object() && step.contains("type") && step["type"] == type) ++n;
  }
  return n;
}

Status RunAgentCommand(const RunArgs& args, const fs::path& home) {
  if (args.instruction.empty()) return Status::InvalidArgument("--instruction must not be empty");
  if (args.max_rounds < 1) return Status::InvalidArgument("--max-rounds must be at least 1");
  if (args.wall <= 0) return Status::InvalidArgument("--wall must be positive");
  LINEAGE_ASSIGN_OR_RETURN(llm::ModelsConfig models, llm::LoadModelsConfig(args.models));

  // A home is private with or without an archive: `lineage init` would otherwise close it under a running
  // sandbox that found its build readable a moment before.
  LINEAGE_RETURN_IF_ERROR(MakePrivateDirectory(home));
  std::unique_ptr<Archive> archive;
  if (Result<std::unique_ptr<Archive>> opened = Archive::Open(home); opened.ok()) archive = std::move(opened).value();
  std::optional<AgentId> id;
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, LoadAgentTree(args.agent, home, archive.get(), &id));
  LINEAGE_ASSIGN_OR_RETURN(auto sandbox, Sandbox::Create(args.unsafe ? Sandbox::Backend::kNone : Sandbox::Backend::kBwrap));

  if (!args.json) std::fprintf(stderr, "agent: building %s (cached by its tree)...\n", args.agent.c_str());
  LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, BuildAgent(home, tree, *sandbox));
  LINEAGE_ASSIGN_OR_RETURN(BuiltAgent built, std::move(build).OrError());
  if (!args.json) {
    std::fprintf(stderr, "agent: %s %s; running on %s\n", built.manifest.name.c_str(),
                 built.cached ? "was built already" : "built", args.workspace.c_str());
  }

  AgentRunOptions options;
  options.runtime.home = home;
  options.runtime.models = std::move(models);
  options.runtime.max_rounds = args.max_rounds;
  options.runtime.budget = llm::BudgetLimits{args.max_tokens, args.max_cost, args.max_calls};
  if (archive) options.runtime.recorder = ArchiveCallRecorder(*archive);
  options.workspace = args.workspace;
  options.instruction = args.instruction;
  options.wall_ms = static_cast<std::int64_t>(args.wall * 1000);
  options.attribution = llm::Attribution{std::nullopt, id, "manual", "agent_run"};
  LINEAGE_ASSIGN_OR_RETURN(DirectoryRunResult ran, RunAgentOnDirectory(built, options, *sandbox));
  const AgentRunResult& r = ran.run;

  const int tools = Count(r.trajectory, "tool"), experts = Count(r.trajectory, "expert");
  if (args.json) {
    json out = {{"agent", args.agent},
                {"status", r.status},
                {"build_cached", built.cached},
                {"summary", r.summary},
                {"rounds", r.rounds},
                {"tool_calls", tools},
                {"experts", experts},
                {"exit_code", r.process.exit_code ? json(*r.process.exit_code) : json(nullptr)},
                {"wall_ms", r.process.wall_ms},
                {"tokens", r.spend.tokens},
                {"model_calls", r.spend.calls},
                {"cost_usd", r.spend.cost_usd},
                {"output_dir", r.output_dir.string()},
                {"diff",
                 {{"files_changed", r.diff.files_changed},
                  {"lines_added", r.diff.lines_added},
                  {"lines_removed", r.diff.lines_removed},
                  {"patch", r.diff.patch}}},
                {"refused", ran.refused},
                {"kept", ran.kept}};
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return Status::OK();
  }
  std::printf("%s after %d rounds: %d tool calls, %d experts consulted, %lld model calls, %lld tokens, $%.4f, %.1f s\n",
              r.status.c_str(), r.rounds, tools, experts, static_cast<long long>(r.spend.calls),
              static_cast<long long>(r.spend.tokens), r.spend.cost_usd, r.process.wall_ms / 1000.0);
  if (!r.summary.empty()) std::printf("summary: %s\n", r.summary.c_str());
  std::printf("trajectory: %s\n", (r.output_dir / "trajectory.jsonl").string().c_str());
  std::printf("changes: %d files, +%d -%d\n%s", r.diff.files_changed, r.diff.lines_added, r.diff.lines_removed,
              r.diff.patch.c_str());
  if (!ran.kept.empty()) {
    std::string list;
    for (const std::string& path : ran.kept) list += (list.empty() ? "" : ", ") + path;
    std::printf("kept as they are (changed in %s while the agent worked): %s\n", args.workspace.c_str(), list.c_str());
  }
  if (!ran.refused.empty()) {
    std::string list;
    for (const std::string& path : ran.refused) list += (list.empty() ? "" : ", ") + path;
    std::printf("refused (host-executed configuration, never carried back; docs/sandbox.md): %s\n", list.c_str());
  }
  return Status::OK();
}

}  // namespace

void RegisterAgentRunCommand(CLI::App& app, Context& ctx) {
  CLI::App* agent = app.get_subcommand("agent");
  auto args = std::make_shared<RunArgs>();
  auto* run = agent->add_subcommand("run", "Build an agent and run it in the sandbox, through the gateway, on a "
                                           "directory; print its trajectory summary and the diff it made");
  run->add_option("AGENT", args->agent, "an agent id in the archive, or an agent's source directory")->required();
  run->add_option("--workspace", args->workspace,
                  "the directory the agent works on: it works on a copy, and its changes come back here, except "
                  "to .git and other configuration the host runs (listed as refused)")->required();
  run->add_option("--instruction", args->instruction, "what the agent should do")->required();
  run->add_option("--models", args->models, "the models configuration (TOML)")->required();
  run->add_option("--max-rounds", args->max_rounds, "the agent's round cap")->capture_default_str();
  run->add_option("--wall", args->wall, "wall-clock limit of the run in seconds")->capture_default_str();
  run->add_option("--max-tokens", args->max_tokens, "budget: tokens");
  run->add_option("--max-cost", args->max_cost, "budget: US dollars");
  run->add_option("--max-calls", args->max_calls, "budget: model calls");
  run->add_flag("--json", args->json, "print one JSON object instead of a summary");
  run->add_flag("--unsafe-no-sandbox", args->unsafe, "run WITHOUT isolation (only for code you trust)");
  run->callback([&ctx, args] { ctx.action = [args, &ctx] { return RunAgentCommand(*args, ctx.home); }; });
}

}  // namespace lineage::cli
