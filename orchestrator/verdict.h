// The verdict on a child, one rule for every strategy: DGM's, that a child must keep its editing ability
// (a non-empty patch on at least one stage-1 task) to be admitted. Its score does not gate admission: a
// weak child may still be a stepping stone.
#pragma once

namespace lineage {

enum class Verdict {
  kAdmit,   // it left a non-empty patch on a stage-1 task
  kReject,  // it ran every stage-1 task without one
  kNotYet,  // stage-1 tasks are left to run (hgm evaluates one task run at a time)
};

// The reason a rejected child's record gives.
inline constexpr char kLostEditingAbility[] = "lost its editing ability: no non-empty patch on any stage-1 task";

// `edited`: some counted stage-1 task run of the child left a non-empty patch (a run the world or the
// budget cut short counts for nothing). `stage_one_left`: stage-1 tasks it has not run yet.
constexpr Verdict JudgeChild(bool edited, bool stage_one_left) {
  if (edited) return Verdict::kAdmit;
  return stage_one_left ? Verdict::kNotYet : Verdict::kReject;
}

}  // namespace lineage
