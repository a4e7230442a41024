#include "evaluators/evaluator.h"

#include <mutex>

#include "evaluators/formats.h"

namespace lineage {

namespace {
std::mutex suite_cache_mu;
std::filesystem::path& CacheDir() {
  static std::filesystem::path dir;
  return dir;
}
}  // namespace

void SetSuiteCacheDir(const std::filesystem::path& dir) {
  std::lock_guard lock(suite_cache_mu);
  CacheDir() = dir;
}

std::filesystem::path SuiteCacheDir() {
  std::lock_guard lock(suite_cache_mu);
  return CacheDir();
}

Result<std::unique_ptr<Evaluator>> OpenEvaluator(const SuiteSpec& spec) {
  // A suite's tasks, references and hidden tests are never for a sandbox's eyes, wherever it is kept (an
  // exec suite's program directory is mounted explicitly where it scores).
  const std::filesystem::path root = spec.kind == "exec" ? spec.path.parent_path() : spec.path;
  if (!root.empty()) HideFromSandboxes(root.string());
  if (spec.kind == "taskdir") return OpenTaskDir(spec);
  if (spec.kind == "polyglot") return OpenPolyglot(spec);
  if (spec.kind == "swebench") return OpenSweBench(spec);
  if (spec.kind == "exec") return OpenExec(spec);
  return Status::InvalidArgument("suite '" + spec.name + "': unknown kind '" + spec.kind +
                                 "' (one of taskdir, polyglot, swebench, exec)");
}

}  // namespace lineage
