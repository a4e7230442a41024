#include "evaluators/scoring.h"

#include <unistd.h>

#include "base/files.h"

#include <algorithm>
#include <map>
#include <regex>

namespace lineage {

namespace fs = std::filesystem;

namespace {

constexpr const char* kWorkspaceInside = "/workspace";

// Test output is kept from both ends: a compiler's first error and a test runner's summary both matter.
std::string CapOutput(const std::string& text) {
  if (text.size() <= kMaxTestOutputBytes) return text;
  const std::size_t half = kMaxTestOutputBytes / 2;
  return text.substr(0, half) + "\n[lineage: " + std::to_string(text.size() - 2 * half) +
         " bytes of test output elided]\n" + text.substr(text.size() - half);
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

}  // namespace

std::vector<TreeEntry> LayOver(std::vector<TreeEntry> tree, const std::vector<TreeEntry>& overlay) {
  std::map<std::string, TreeEntry> by_path;
  for (TreeEntry& e : tree) by_path[e.path] = std::move(e);
  for (const TreeEntry& o : overlay) {
    for (auto it = by_path.begin(); it != by_path.end();) {
      bool in_the_way = it->first == o.path || IsUnder(it->first, o.path) || IsUnder(o.path, it->first);
      it = in_the_way ? by_path.erase(it) : std::next(it);
    }
    by_path[o.path] = o;
  }
  std::vector<TreeEntry> out;
  out.reserve(by_path.size());
  for (auto& [path, e] : by_path) out.push_back(std::move(e));
  return out;
}

std::optional<double> ParsePartialScore(const std::string& output) {
  static const std::regex kExplicit(R"(lineage-score:\s*([0-9]*\.?[0-9]+))");
  static const std::regex kPytest(R"((?:^|\n)[= ]*((?:\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)(?:, )?)+) in [0-9.]+s)");
  static const std::regex kCatchCounts(R"(test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed)");
  static const std::regex kCatchAll(R"(All tests passed \(\d+ assertions? in (\d+) test cases?\))");
  std::smatch m;
  auto last = [&](const std::regex& re) {
    std::optional<std::smatch> found;
    for (auto it = std::sregex_iterator(output.begin(), output.end(), re); it != std::sregex_iterator(); ++it) {
      found = *it;
    }
    return found;
  };
  if (auto e = last(kExplicit)) {
    double v = std::stod((*e)[1].str());
    return std::clamp(v, 0.0, 1.0);
  }
  if (auto p = last(kPytest)) {
    static const std::regex kCount(R"((\d+) (passed|failed|errors?))");
    const std::string summary = (*p)[1].str();
    double passed = 0, total = 0;
    for (auto it = std::sregex_iterator(summary.begin(), summary.end(), kCount); it != std::sregex_iterator(); ++it) {
      double n = std::stod((*it)[1].str());
      total += n;
      if ((*it)[2].str() == "passed") passed += n;
    }
    if (total > 0) return passed / total;
  }
  if (auto c = last(kCatchCounts)) {
    double total = std::stod((*c)[1].str());
    if (total > 0) return std::stod((*c)[2].str()) / total;
  }
  if (last(kCatchAll)) return 1.0;
  return std::nullopt;
}

TaskScore ScoreFromResult(const SandboxResult& r) {
  TaskScore score;
  score.solved = r.ok();
  score.timed_out = r.limit == SandboxLimit::kWall || r.limit == SandboxLimit::kCpu;
  std::string output = r.stdout_text;
  if (!r.stderr_text.empty()) output += (output.empty() ? "" : "\n") + r.stderr_text;
  if (r.limit) output += std::string("\n[lineage: the tests hit the ") + SandboxLimitName(*r.limit) + " limit]\n";
  score.partial = ParsePartialScore(output);
  if (score.solved && !score.partial) score.partial = 1.0;
  if (!score.solved && score.partial && *score.partial >= 1.0) score.partial.reset();  // a build step failed
  score.output = CapOutput(output);
  score.duration_ms = r.wall_ms;
  return score;
}

Result<SandboxResult> RunOnCopy(const fs::path& workspace, const TestRun& run, const ScoreContext& context) {
  if (!context.sandbox) return Status::Internal("scoring needs a sandbox");
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, ReadTree(workspace));
  const fs::path copy = context.scratch / "workspace";
  LINEAGE_RETURN_IF_ERROR(WriteTree(copy, LayOver(std::move(tree), run.overlay)));
  SandboxSpec spec;
  spec.argv = run.argv;
  spec.workdir = kWorkspaceInside;
  // The workspace first: later mounts may sit inside it (node_modules, say).
  spec.mounts = {{SandboxMount::Kind::kReadWrite, copy.string(), kWorkspaceInside}};
  spec.mounts.insert(spec.mounts.end(), run.mounts.begin(), run.mounts.end());
  spec.stdin_data = run.stdin_data;
  spec.limits.wall_ms = run.timeout_ms;
  spec.limits.cpu_seconds = std::max<std::int64_t>(10, run.timeout_ms / 1000 * 2);
  spec.limits.output_bytes = 4ull << 20;
  return context.sandbox->Run(spec);
}

Result<TaskScore> RunTests(const fs::path& workspace, const TestRun& run, const ScoreContext& context) {
  LINEAGE_ASSIGN_OR_RETURN(SandboxResult result, RunOnCopy(workspace, run, context));
  return ScoreFromResult(result);
}

bool HasProgram(const std::string& program) { return !FindInPath(program).empty(); }

}  // namespace lineage

namespace lineage {

Status WriteOver(const std::filesystem::path& dir, const std::vector<TreeEntry>& entries) {
  for (const TreeEntry& e : entries) {
    LINEAGE_RETURN_IF_ERROR(ValidateTreePath(e.path));
    const fs::path target = dir / e.path;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (fs::is_symlink(target, ec) || fs::exists(target, ec)) fs::remove_all(target, ec);
    if (e.kind == TreeEntry::Kind::kSymlink) {
      fs::create_symlink(e.data, target, ec);
      if (ec) return Status::IOError("cannot create symlink " + target.string() + ": " + ec.message());
      continue;
    }
    LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(target, e.data));
    if (e.kind == TreeEntry::Kind::kExecutable) {
      fs::permissions(target, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                      fs::perm_options::add, ec);
    }
  }
  return Status::OK();
}

}  // namespace lineage
