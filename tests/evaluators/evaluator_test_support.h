// Helpers for the evaluator tests: open a suite, and prepare, change and score one task in the real sandbox.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <memory>

#include "evaluators/evaluator.h"
#include "evaluators/stages.h"
#include "tests/support/test_support.h"

namespace lineage::test {

inline const std::filesystem::path kEvaluatorData = LINEAGE_EVALUATOR_DATA;

inline std::unique_ptr<Evaluator> OpenSuite(const std::string& inline_suite) {
  auto spec = ResolveSuite(inline_suite, nullptr);
  REQUIRE(spec.ok());
  auto evaluator = OpenEvaluator(*spec);
  INFO(evaluator.status().ToString());
  REQUIRE(evaluator.ok());
  return std::move(evaluator).value();
}

inline Sandbox& TestSandbox() {
  static std::unique_ptr<Sandbox> sandbox = [] {
    auto s = Sandbox::Create(Sandbox::Backend::kBwrap);
    REQUIRE(s.ok());
    return std::move(s).value();
  }();
  return *sandbox;
}

struct Attempted {
  PreparedTask prepared;
  Result<TaskScore> score = Status::Internal("not scored");
};

// Prepares `task` in a fresh workspace, lets `change` edit it, and scores it.
inline Attempted AttemptTask(Evaluator& evaluator, const std::string& task,
                             const std::function<void(const std::filesystem::path&)>& change) {
  TempDir dir;
  auto prepared = evaluator.Prepare(task, dir / "workspace");
  INFO(prepared.status().ToString());
  REQUIRE(prepared.ok());
  if (change) change(dir / "workspace");
  std::filesystem::create_directories(dir / "scratch");
  Attempted out{*prepared, evaluator.Score(task, dir / "workspace", ScoreContext{&TestSandbox(), dir / "scratch"})};
  return out;
}

}  // namespace lineage::test
