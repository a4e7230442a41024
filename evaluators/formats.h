// The built-in formats' constructors (internal to evaluators/; OpenEvaluator picks one by kind).
#pragma once

#include <memory>

#include "evaluators/evaluator.h"

namespace lineage {

Result<std::unique_ptr<Evaluator>> OpenTaskDir(const SuiteSpec& spec);
Result<std::unique_ptr<Evaluator>> OpenPolyglot(const SuiteSpec& spec);
Result<std::unique_ptr<Evaluator>> OpenExec(const SuiteSpec& spec);

}  // namespace lineage
