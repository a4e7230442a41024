// Commands that read and write the archive: init, agent import/add/checkout, tree, show, diff, export, fsck.
// Reading works without any daemon: every command opens the home directly.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "archive/archive.h"
#include "archive/export.h"
#include "archive/scores.h"
#include "base/files.h"
#include "cli/commands.h"

namespace lineage::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

Result<std::unique_ptr<Archive>> OpenHome(const Context& ctx) { return Archive::Open(ctx.home); }

std::string ShortCommit(const std::string& commit) { return commit.substr(0, 12); }

bool UseColor() { return isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr; }

void Print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

Status WriteOutput(const std::string& out_path, const std::string& text) {
  if (out_path.empty() || out_path == "-") {
    Print(text);
    return Status::OK();
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::InvalidArgument("--out '" + out_path + "' cannot be written");
  out << text;
  if (!out.flush()) return Status::IOError("cannot write '" + out_path + "'");
  std::fprintf(stderr, "wrote %s (%zu bytes)\n", out_path.c_str(), text.size());
  return Status::OK();
}

std::string ChangeSummary(const Agent& a) {
  return std::to_string(a.files_changed) + (a.files_changed == 1 ? " file" : " files") + ", +" +
         std::to_string(a.lines_added) + " -" + std::to_string(a.lines_removed);
}

Status Init(const Context& ctx) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Init(ctx.home));
  std::error_code ec;
  std::printf("lineage home ready at %s (archive schema %d)\n", fs::absolute(ctx.home, ec).c_str(),
              archive->schema_version());
  return Status::OK();
}

Status Import(const Context& ctx, const std::string& dir, const std::string& name, bool as_json) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, OpenHome(ctx));
  LINEAGE_ASSIGN_OR_RETURN(Agent agent, archive->ImportAgent(dir, name));
  if (as_json) {
    Print(AgentJson(agent) + "\n");
  } else {
    std::printf("imported agent #%lld '%s' from %s (commit %s, %d files)\n", static_cast<long long>(agent.id),
                agent.name.c_str(), dir.c_str(), ShortCommit(agent.commit).c_str(), agent.files_changed);
  }
  return Status::OK();
}

Status Add(const Context& ctx, AgentId parent, const std::string& dir, const std::string& name,
           const std::string& problem, bool as_json) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, OpenHome(ctx));
  Archive::ChildOptions options;
  options.name = name;
  options.problem_statement = problem;
  LINEAGE_ASSIGN_OR_RETURN(Agent agent, archive->AddChild(parent, dir, options));
  if (as_json) {
    Print(AgentJson(agent) + "\n");
  } else {
    std::printf("added agent #%lld as a child of #%lld (commit %s, %s)\n", static_cast<long long>(agent.id),
                static_cast<long long>(parent), ShortCommit(agent.commit).c_str(), ChangeSummary(agent).c_str());
  }
  return Status::OK();
}

Status Checkout(const Context& ctx, AgentId id, const std::string& dir) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, OpenHome(ctx));
  LINEAGE_RETURN_IF_ERROR(archive->Materialize(id, dir));
  std::printf("wrote agent #%lld to %s\n", static_cast<long long>(id), dir.c_str());
  return Status::OK();
}

Status Tree(const Context& ctx, std::optional<RunId> run, int depth, bool as_json) {
  if (depth < -1) return Status::InvalidArgument("--depth " + std::to_string(depth) + " must be 0 or more");
  LINEAGE_ASSIGN_OR_RETURN(auto archive, OpenHome(ctx));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive->ListAgents(run));
  if (as_json) {
    Print(RenderTreeJson(agents, depth));
  } else if (agents.empty()) {
    std::printf("the archive holds no agents yet; add one with `lineage agent import DIR --name NAME`\n");
  } else {
    Print(RenderTreeText(agents, depth, UseColor()));
  }
  return Status::OK();
}

std::string OptionalId(const std::optional<std::int64_t>& id) { return id ? "#" + std::to_string(*id) : "-"; }

// "5 tasks: 3 solved, 1 failed; not counted: 1 faulted". Runs that say nothing of the agent (faulted,
// skipped, out of budget) are named apart, so a fault never reads as a failure.
std::string OutcomeSummary(const std::vector<const Evaluation*>& evals) {
  std::map<std::string, int> counted, not_counted;
  for (const Evaluation* e : evals) ++(IsAttempt(*e) ? counted : not_counted)[OutcomeName(e->outcome)];
  auto list = [](std::map<std::string, int> tally, std::string out) {
    for (const auto& [outcome, n] : tally) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + outcome;
    return out;
  };
  const int solved = counted["solved"];
  counted.erase("solved");
  std::string line = std::to_string(evals.size()) + (evals.size() == 1 ? " task: " : " tasks: ") +
                     list(counted, std::to_string(solved) + " solved");
  if (!not_counted.empty()) line += "; not counted: " + list(not_counted, "");
  return line;
}

// The agent's own evaluations, then each held-out suite's ("final:S"), summarized one line each.
void PrintEvaluations(const std::vector<Evaluation>& evals, const std::function<void(const char*, const std::string&)>& row) {
  std::vector<const Evaluation*> own;
  std::map<std::string, std::vector<const Evaluation*>> held_out;
  for (const Evaluation& e : evals) (IsHeldOut(e) ? held_out[e.suite] : own).push_back(&e);
  if (!own.empty()) row("evaluations", OutcomeSummary(own));
  for (const auto& [suite, runs] : held_out) row("final", suite + " (held out, not in the score): " + OutcomeSummary(runs));
}

// The last `n` lines of `text`, and how many it had. An agent's build wrote it: control characters other
// than tab and newline become '?', so it cannot drive the terminal.
std::string LastLines(const std::string& text, int n, int* total) {
  std::vector<std::size_t> starts = {0};
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] == '\n') starts.push_back(i + 1);
  }
  *total = static_cast<int>(starts.size());
  std::string tail = text.substr(starts[std::max<int>(0, *total - n)]);
  for (char& c : tail) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) c = '?';
  }
  return tail;
}

Status Show(const Context& ctx, AgentId id, bool as_json) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, OpenHome(ctx));
  LINEAGE_ASSIGN_OR_RETURN(Agent a, archive->GetAgent(id));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evals, archive->ListEvaluations(id));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<ModelCall> calls, archive->ListModelCalls(id));
  LINEAGE_ASSIGN_OR_RETURN(auto cost, archive->AgentCost(a));
  // Why a rejected agent never ran: its failed build's log (empty for any other).
  std::string build_log;
  if (a.state == AgentState::kRejected) {
    LINEAGE_ASSIGN_OR_RETURN(build_log, archive->BuildLog(id));
  }
  // Beside its parent, task by task, on the tasks both ran (archive/scores.h).
  std::optional<PairedComparison> paired;
  if (a.parent_id) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> parent_evals, archive->ListEvaluations(*a.parent_id));
    paired = ComparePaired(evals, parent_evals);
  }
  if (as_json) {
    json out = json::parse(AgentJson(a));
    json ev = json::array();
    for (const Evaluation& e : evals) {
      ev.push_back({{"suite", e.suite}, {"task", e.task_id}, {"stage", e.stage}, {"held_out", IsHeldOut(e)}, {"outcome", OutcomeName(e.outcome)},
                    {"score", e.score ? json(*e.score) : json(nullptr)}, {"duration_ms", e.duration_ms},
                    {"patch_bytes", e.patch_bytes}, {"log_blob", e.log_blob.empty() ? json(nullptr) : json(e.log_blob)}});
    }
    json mc = json::array();
    for (const ModelCall& c : calls) {
      mc.push_back({{"id", c.id}, {"purpose", c.purpose}, {"label", c.label}, {"provider", c.provider}, {"model", c.model},
                    {"input_tokens", c.input_tokens}, {"output_tokens", c.output_tokens},
                    {"cache_read_tokens", c.cache_read_tokens}, {"cache_write_tokens", c.cache_write_tokens},
                    {"cost_usd", c.cost_usd}, {"latency_ms", c.latency_ms}, {"outcome", c.outcome}});
    }
    out["evaluations"] = ev;
    out["build_log"] = build_log.empty() ? json(nullptr) : json(build_log);
    out["model_calls"] = mc;
    out["cost"] = cost;  // {"diagnose": $, "self_modify": $, "evaluate": $}: what making and judging it cost
    out["paired"] = nullptr;
    if (paired) {
      out["paired"] = {{"parent", *a.parent_id}, {"shared", paired->Shared()}, {"both_solved", paired->both_solved},
                       {"child_only", paired->child_only}, {"parent_only", paired->parent_only}, {"neither", paired->neither}};
    }
    Print(out.dump(2) + "\n");
    return Status::OK();
  }
  std::printf("agent #%lld%s%s\n", static_cast<long long>(a.id), a.name.empty() ? "" : "  ", a.name.c_str());
  auto row = [](const char* key, const std::string& value) { std::printf("  %-12s %s\n", key, value.c_str()); };
  row("status", StateName(a.state) + (a.reason.empty() ? std::string() : ": " + a.reason));
  row("parent", OptionalId(a.parent_id));
  row("run", OptionalId(a.run_id));
  row("generation", std::to_string(a.generation));
  row("commit", a.commit.empty() ? "-" : a.commit + "  (branch agents/" + std::to_string(a.id) + ")");
  row("score", ScoreWithInterval(a) + "  (" + std::to_string(SolvedTasks(a)) + "/" + std::to_string(AttemptedTasks(a)) +
                   " tasks, 95% interval; stage " + std::to_string(a.stage_reached) + " reached)");
  for (const StageScore& s : a.stages) {
    row(("  stage " + std::to_string(s.stage)).c_str(),
        std::to_string(s.solved) + "/" + std::to_string(s.attempted) + " solved");
  }
  row("changes", a.parent_id ? ChangeSummary(a) + " against #" + std::to_string(*a.parent_id) : "root");
  if (paired) {
    row("vs parent", "on the " + std::to_string(paired->Shared()) + " tasks both ran: " + std::to_string(paired->child_only) +
                         " solved only by it, " + std::to_string(paired->parent_only) + " only by #" +
                         std::to_string(*a.parent_id) + ", " + std::to_string(paired->both_solved) + " by both, " +
                         std::to_string(paired->neither) + " by neither");
  }
  char spend[192];
  std::snprintf(spend, sizeof spend, "%lld in, %lld out, $%.4f", static_cast<long long>(a.tokens_in),
                static_cast<long long>(a.tokens_out), a.cost_usd);
  row("tokens", spend);
  if (!cost.empty()) {
    double total = 0;
    for (const auto& [purpose, usd] : cost) total += usd;
    std::snprintf(spend, sizeof spend, "$%.4f: diagnosis $%.4f, self-modification $%.4f, evaluation $%.4f", total,
                  cost["diagnose"], cost["self_modify"], cost["evaluate"]);
    row("cost", spend);
  }
  row("created", FormatTimestamp(a.created_at));
  std::string kids;
  for (AgentId c : a.children) kids += (kids.empty() ? "#" : " #") + std::to_string(c);
  row("children", kids.empty() ? "-" : kids);
  if (!a.problem_statement.empty()) row("problem", a.problem_statement);
  if (!a.diagnosis_json.empty()) row("diagnosis", a.diagnosis_json);
  PrintEvaluations(evals, row);
  if (!calls.empty()) {
    std::int64_t input = 0, read = 0, written = 0;
    for (const ModelCall& c : calls) {
      input += c.input_tokens;
      read += c.cache_read_tokens;
      written += c.cache_write_tokens;
    }
    std::string line = std::to_string(calls.size());
    if (read + written > 0) {
      line += "; prompt cache: " + std::to_string(read) + " of " + std::to_string(input) + " input tokens read" +
              (input > 0 ? " (" + std::to_string(100 * read / input) + "%)" : "") + ", " + std::to_string(written) +
              " written";
    }
    row("model calls", line);
  }
  if (!build_log.empty()) {
    constexpr int kTail = 40;
    int total = 0;
    const std::string tail = LastLines(build_log, kTail, &total);
    row("build log", total > kTail ? "the last " + std::to_string(kTail) + " of " + std::to_string(total) +
                                         " lines (all of it: show --json)"
                                   : std::to_string(total) + (total == 1 ? " line" : " lines"));
    Print(tail + (tail.empty() || tail.back() == '\n' ? "" : "\n"));
  }
  return Status::OK();
}

Status Diff(const Context& ctx, AgentId id, std::optional<AgentId> other, bool stat_only) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, OpenHome(ctx));
  // `diff A B` shows what changed from A to B, as `git diff A B` does; `diff A` compares A with its parent.
  auto diff = other ? archive->Diff(*other, id) : archive->Diff(id);
  if (!diff.ok()) return diff.status();
  if (!stat_only) Print(diff->patch);
  std::fflush(stdout);  // the summary goes to stderr after the patch, even when stdout is a pipe
  std::fprintf(stat_only ? stdout : stderr, "%d %s changed, %d %s(+), %d %s(-)\n", diff->files_changed,
               diff->files_changed == 1 ? "file" : "files", diff->lines_added,
               diff->lines_added == 1 ? "insertion" : "insertions", diff->lines_removed,
               diff->lines_removed == 1 ? "deletion" : "deletions");
  return Status::OK();
}

Status Export(const Context& ctx, const std::string& format, std::optional<RunId> run, const std::string& out) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, OpenHome(ctx));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive->ListAgents(run));
  if (format == "json") {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Run> runs, archive->ListRuns());
    if (run) std::erase_if(runs, [&](const Run& r) { return r.id != *run; });
    return WriteOutput(out, ExportJson(runs, agents));
  }
  if (format == "csv") return WriteOutput(out, ExportCsv(agents));
  return WriteOutput(out, ExportDot(agents));
}

Status RunFsck(const Context& ctx, bool repair) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, OpenHome(ctx));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<FsckIssue> issues, archive->Fsck(repair));
  int open = 0;
  for (const FsckIssue& issue : issues) {
    std::printf("%s: %s%s\n", issue.subject.c_str(), issue.problem.c_str(), issue.repaired ? "  [repaired]" : "");
    open += !issue.repaired;
  }
  if (issues.empty()) {
    std::printf("archive is consistent\n");
    return Status::OK();
  }
  if (open == 0) {
    std::printf("repaired %zu %s\n", issues.size(), issues.size() == 1 ? "problem" : "problems");
    return Status::OK();
  }
  return Status::Corruption(std::to_string(open) + (open == 1 ? " problem" : " problems") + " found" +
                            (repair ? " that could not be repaired" : "; run `lineage fsck --repair` to mend what can be"));
}

}  // namespace

void RegisterArchiveCommands(CLI::App& app, Context& ctx) {
  app.add_subcommand("init", "Create a lineage home (idempotent; migrates an older archive)")
      ->callback([&] { ctx.action = [&] { return Init(ctx); }; });

  auto* agent = app.add_subcommand("agent", "Import, add and check out agent variants");
  agent->require_subcommand(1);

  struct ImportArgs {
    std::string dir, name;
    bool json = false;
  };
  auto import_args = std::make_shared<ImportArgs>();
  auto* import = agent->add_subcommand("import", "Store a directory as a new root agent");
  import->add_option("DIR", import_args->dir, "the agent's source tree")->required()->check(CLI::ExistingDirectory);
  import->add_option("--name", import_args->name, "a name for the agent")->required();
  import->add_flag("--json", import_args->json, "print the new agent as JSON");
  import->callback([&ctx, import_args] {
    ctx.action = [&ctx, import_args] { return Import(ctx, import_args->dir, import_args->name, import_args->json); };
  });

  struct AddArgs {
    AgentId parent = 0;
    std::string dir, name, problem;
    bool json = false;
  };
  auto add_args = std::make_shared<AddArgs>();
  auto* add = agent->add_subcommand("add", "Store a modified copy of an agent's tree as its child (a hand-made variant)");
  add->add_option("--parent", add_args->parent, "id of the parent agent")->required();
  add->add_option("DIR", add_args->dir, "the child's full source tree")->required()->check(CLI::ExistingDirectory);
  add->add_option("--name", add_args->name, "a name for the child");
  add->add_option("--problem", add_args->problem, "what the change is meant to fix (its problem statement)");
  add->add_flag("--json", add_args->json, "print the new agent as JSON");
  add->callback([&ctx, add_args] {
    ctx.action = [&ctx, add_args] {
      return Add(ctx, add_args->parent, add_args->dir, add_args->name, add_args->problem, add_args->json);
    };
  });

  struct CheckoutArgs {
    AgentId id = 0;
    std::string dir;
  };
  auto checkout_args = std::make_shared<CheckoutArgs>();
  auto* checkout = agent->add_subcommand("checkout", "Write a variant's files into a new (or empty) directory");
  checkout->add_option("ID", checkout_args->id, "agent id")->required();
  checkout->add_option("DIR", checkout_args->dir, "destination; must not exist or be empty")->required();
  checkout->callback([&ctx, checkout_args] {
    ctx.action = [&ctx, checkout_args] { return Checkout(ctx, checkout_args->id, checkout_args->dir); };
  });

  struct TreeArgs {
    std::optional<RunId> run;
    int depth = -1;
    bool json = false;
  };
  auto tree_args = std::make_shared<TreeArgs>();
  auto* tree = app.add_subcommand("tree", "Show the archive tree: id, score, status, children");
  tree->add_option("--run", tree_args->run, "only this run (its seed and the agents it made)");
  tree->add_option("--depth", tree_args->depth, "show at most N generations below the roots");
  tree->add_flag("--json", tree_args->json, "flat JSON for scripts: roots, and agents with their children ids");
  tree->callback([&ctx, tree_args] {
    ctx.action = [&ctx, tree_args] { return Tree(ctx, tree_args->run, tree_args->depth, tree_args->json); };
  });

  struct ShowArgs {
    AgentId id = 0;
    bool json = false;
  };
  auto show_args = std::make_shared<ShowArgs>();
  auto* show = app.add_subcommand("show", "Show one agent: status, lineage, scores, changes, spend");
  show->add_option("ID", show_args->id, "agent id")->required();
  show->add_flag("--json", show_args->json, "print JSON, with evaluations and model calls");
  show->callback([&ctx, show_args] {
    ctx.action = [&ctx, show_args] { return Show(ctx, show_args->id, show_args->json); };
  });

  struct DiffArgs {
    AgentId id = 0;
    std::optional<AgentId> other;
    bool stat = false;
  };
  auto diff_args = std::make_shared<DiffArgs>();
  auto* diff = app.add_subcommand("diff", "Unified diff of a variant against its parent, or from ID to OTHER");
  diff->add_option("ID", diff_args->id, "agent id")->required();
  diff->add_option("OTHER", diff_args->other, "a second agent id: show the changes from ID to OTHER");
  diff->add_flag("--stat", diff_args->stat, "print only the summary line");
  diff->callback([&ctx, diff_args] {
    ctx.action = [&ctx, diff_args] { return Diff(ctx, diff_args->id, diff_args->other, diff_args->stat); };
  });

  struct ExportArgs {
    std::string format, out;
    std::optional<RunId> run;
  };
  auto export_args = std::make_shared<ExportArgs>();
  auto* exp = app.add_subcommand("export", "Export the archive as JSON, Graphviz dot or CSV");
  exp->add_option("--format", export_args->format, "json, dot or csv")
      ->required()
      ->check(CLI::IsMember({"json", "dot", "csv"}));
  exp->add_option("--run", export_args->run, "only this run");
  exp->add_option("--out", export_args->out, "write to this file instead of standard output");
  exp->callback([&ctx, export_args] {
    ctx.action = [&ctx, export_args] {
      return Export(ctx, export_args->format, export_args->run, export_args->out);
    };
  });

  auto repair = std::make_shared<bool>(false);
  auto* fsck = app.add_subcommand("fsck",
                                  "Check archive.db <-> agents.git <-> blobs; exit 2 while problems remain");
  fsck->add_flag("--repair", *repair, "finish or fail interrupted writes, restore branches, remove stale locks");
  fsck->callback([&ctx, repair] { ctx.action = [&ctx, repair] { return RunFsck(ctx, *repair); }; });
}

}  // namespace lineage::cli
