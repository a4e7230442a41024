#include "evaluators/evaluator.h"

#include "evaluators/formats.h"

namespace lineage {

Result<std::unique_ptr<Evaluator>> OpenEvaluator(const SuiteSpec& spec) {
  // A suite's tasks, references and hidden tests are never for a sandbox's eyes, wherever it is kept (an
  // exec suite's program directory is mounted explicitly where it scores).
  const std::filesystem::path root = spec.kind == "exec" ? spec.path.parent_path() : spec.path;
  if (!root.empty()) HideFromSandboxes(root.string());
  if (spec.kind == "taskdir") return OpenTaskDir(spec);
  if (spec.kind == "polyglot") return OpenPolyglot(spec);
  if (spec.kind == "exec") return OpenExec(spec);
  return Status::InvalidArgument("suite '" + spec.name + "': unknown kind '" + spec.kind +
                                 "' (one of taskdir, polyglot, exec)");
}

}  // namespace lineage
