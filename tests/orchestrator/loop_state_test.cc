// LoopState: what the slots of a run share — slots and their draws, the run's patience with the world's
// faults, and why the run stops starting work.
#include <catch2/catch.hpp>

#include "orchestrator/loop_state.h"
#include "tests/orchestrator/services_rig.h"

namespace lineage {
namespace {

TEST_CASE("slots are taken smallest first, and an attempt that made no child gives its slot back") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), /*made=*/2);  // slots 0 and 1 hold the children made before
  CHECK(loop.made() == 2);
  CHECK(loop.MadeAndPending({0, 2}) == std::pair<int, int>{2, 1});  // slot 0 holds a child, slot 2 none yet
  CHECK(loop.TakeSlot() == 2);
  CHECK(loop.TakeSlot() == 3);
  loop.ReleaseSlot(2);  // no child came of it
  loop.MadeChild(3);
  loop.ReleaseSlot(3);  // a slot with a child is spent: releasing it does nothing
  CHECK(loop.TakeSlot() == 2);
  CHECK(loop.TakeSlot() == 4);
  CHECK(loop.made() == 3);
}

TEST_CASE("a slot draws the same each time, and afresh after a redo") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), 0);
  auto first = loop.SlotRng(0)();
  CHECK(loop.SlotRng(0)() == first);
  CHECK(loop.SlotRng(1)() != first);
  loop.Ended(Step::Redo("an unusable diagnosis"), "attempt 1", 1, 0);
  CHECK(loop.SlotRng(0)() != first);
}

TEST_CASE("attempts are numbered from one") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), 0);
  CHECK(loop.NextAttempt() == 1);
  CHECK(loop.NextAttempt() == 2);
}

TEST_CASE("three redos in a row fail the run, naming the last, and a done step resets the count") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), 0);
  loop.Ended(Step::Redo("first"), "attempt 1", 1, 0);
  loop.Ended(Step::Redo("second"), "attempt 2", 2, 0);
  loop.Ended(Step::Done(), "attempt 3", 3, 0);
  loop.Ended(Step::Redo("third"), "attempt 4", 4, 0);
  loop.Ended(Step::Redo("fourth"), "attempt 5", 5, 0);
  CHECK(loop.fatal().ok());
  loop.Ended(Step::Redo("fifth"), "attempt 6", 6, 0);
  REQUIRE_FALSE(loop.fatal().ok());
  CHECK_THAT(loop.fatal().message(), Catch::Contains("3 attempts in a row made no child") && Catch::Contains("fifth"));
  CHECK(rig.world.Count("child.failed") == 5);
}

TEST_CASE("a budget's interruption stops new work, with the budget as the reason") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), 0);
  loop.Ended(Step::Cut(Interruption::Budget("evaluating t1: refused")), "agent 2", 0, -1);
  CHECK(loop.budget_spent());
  CHECK(loop.stop_reason().Is(StopReason::Kind::kBudget));
  CHECK_THAT(loop.stop_reason().text, Catch::Contains("evaluating t1: refused"));
  CHECK_FALSE(loop.MayGoOn());
  CHECK(rig.slept.empty());
}

TEST_CASE("a world fault backs off 1 s doubling to 30 s, then pauses the run once its patience is spent") {
  test::ServicesRig rig("[faults]\npatience_s = 60\n");
  LoopState loop(rig.run(), 0);
  for (int i = 0; i < 6; ++i) REQUIRE(loop.AbsorbFault("seed", "the provider is down"));
  CHECK(rig.slept == std::vector<std::int64_t>{1000, 2000, 4000, 8000, 16000, 30000});
  CHECK_FALSE(loop.paused_by_world());
  CHECK_FALSE(loop.AbsorbFault("seed", "still down"));  // 61 s of faults so far: past the patience
  CHECK(loop.paused_by_world());
  CHECK(loop.stop_reason().Is(StopReason::Kind::kFaults));
  CHECK_THAT(loop.stop_reason().text, Catch::Contains("the provider is down") && Catch::Contains("lineage run resume"));
  CHECK(rig.world.Count("fault.absorbed") == 6);
}

TEST_CASE("work that goes through starts the run's patience afresh") {
  test::ServicesRig rig("[faults]\npatience_s = 5\n");
  LoopState loop(rig.run(), 0);
  REQUIRE(loop.AbsorbFault("seed", "down"));
  REQUIRE(loop.AbsorbFault("seed", "down"));
  loop.Ended(Step::Done(), "seed", 0, -1);
  rig.slept.clear();
  REQUIRE(loop.AbsorbFault("seed", "down again"));
  CHECK(rig.slept == std::vector<std::int64_t>{1000});
}

TEST_CASE("a world fault during a stop is not waited out") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), 0);
  rig.stop = true;
  CHECK_FALSE(loop.AbsorbFault("attempt 1", "down"));
  CHECK(rig.slept.empty());
  CHECK_FALSE(loop.MayGoOn());
  CHECK(loop.stop_reason().Is(StopReason::Kind::kStopRequested));
}

TEST_CASE("a run a person is pausing starts no new work") {
  test::ServicesRig rig;
  REQUIRE(rig.archive().SetRunState(rig.world.run, RunState::kRunning, "{}").ok());
  REQUIRE(rig.archive().SetRunState(rig.world.run, RunState::kPausing, "{}").ok());
  LoopState loop(rig.run(), 0);
  CHECK_FALSE(loop.AbsorbFault("attempt 1", "down"));
  CHECK_FALSE(loop.MayGoOn());
  CHECK(loop.stop_reason().Is(StopReason::Kind::kPausing));
}

TEST_CASE("the wall-time budget stops new work once the run has run that long") {
  test::ServicesRig rig("", "wall_s = 10\n");
  LoopState loop(rig.run(), 0);
  CHECK(loop.MayGoOn());
  rig.world.now += 10'000;
  CHECK_FALSE(loop.MayGoOn());
  CHECK(loop.stop_reason().text == "budget: wall time");
  CHECK(loop.budget_spent());
}

TEST_CASE("the first reason to stop is the one kept, until a pause is undone") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), 0);
  loop.Stop({StopReason::Kind::kPausing, "pausing"});
  loop.Stop({StopReason::Kind::kBudget, "budget: cost"});
  CHECK(loop.stop_reason().Is(StopReason::Kind::kPausing));
  loop.ClearStop();
  CHECK(loop.stop_reason().empty());
  loop.Stop({StopReason::Kind::kLowDisk, "disk: full"});
  CHECK(loop.paused_by_world());
  CHECK(loop.low_disk_or_faults());
}

TEST_CASE("the first error is the run's failure") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), 0);
  loop.Fail(Status::IOError("first"));
  loop.Fail(Status::IOError("second"));
  CHECK(loop.fatal().message() == "first");
  CHECK_FALSE(loop.MayGoOn());
}

TEST_CASE("work the executor lost is a world fault, and any other error stays an error") {
  Result<Step> lost = LostIsWorldFault(Status::Unavailable("the cluster lost job 7"));
  REQUIRE(lost.ok());
  CHECK(lost->world_fault());
  CHECK(lost->interruption.why == "the cluster lost job 7");
  CHECK_FALSE(LostIsWorldFault(Status::IOError("disk")).ok());
  CHECK(LostIsWorldFault(Step::Done())->done());
  CHECK_FALSE(Step::Cut(Interruption::Budget("b")).world_fault());
}

TEST_CASE("a resumed policy draws on from where the archive stands") {
  test::ServicesRig rig;
  LoopState loop(rig.run(), 2);
  CHECK(loop.PolicySeed(5) == loop.PolicySeed(5));
  CHECK(loop.PolicySeed(5) != loop.PolicySeed(6));
  LoopState fresh(rig.run(), 0);
  CHECK(fresh.PolicySeed(7) == loop.PolicySeed(5));  // 7 + 0 pieces of work done, as 5 + 2
}

}  // namespace
}  // namespace lineage
