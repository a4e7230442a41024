// The one verdict on a child, for DGM's staged evaluation and HGM's task-at-a-time alike.
#include "orchestrator/verdict.h"

#include <catch2/catch.hpp>

namespace lineage {
namespace {

TEST_CASE("a child is admitted at its first non-empty stage-1 patch, and rejected only when none is left to run") {
  CHECK(JudgeChild(/*edited=*/true, /*stage_one_left=*/true) == Verdict::kAdmit);
  CHECK(JudgeChild(true, false) == Verdict::kAdmit);
  CHECK(JudgeChild(false, true) == Verdict::kNotYet);
  CHECK(JudgeChild(false, false) == Verdict::kReject);
  static_assert(JudgeChild(false, false) == Verdict::kReject);
}

}  // namespace
}  // namespace lineage
