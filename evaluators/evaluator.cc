#include "evaluators/evaluator.h"

#include "evaluators/formats.h"

namespace lineage {

Result<std::unique_ptr<Evaluator>> OpenEvaluator(const SuiteSpec& spec) {
  if (spec.kind == "taskdir") return OpenTaskDir(spec);
  if (spec.kind == "polyglot") return OpenPolyglot(spec);
  if (spec.kind == "exec") return OpenExec(spec);
  return Status::InvalidArgument("suite '" + spec.name + "': unknown kind '" + spec.kind +
                                 "' (one of taskdir, polyglot, exec)");
}

}  // namespace lineage
