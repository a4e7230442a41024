// The journal's events: what one writes, the other reads, and what archives written before the journal hold.
#include "archive/journal.h"

#include <catch2/catch.hpp>

namespace lineage::journal {
namespace {

Event Make(const std::string& kind, const std::string& data) { return Event{0, 1, std::nullopt, kind, data, 0}; }

TEST_CASE("a diagnosis event round-trips, and one recorded before the journal reads the same") {
  const Diagnosis d{7, "failed_task", "py/fizzbuzz", "add a test step", "child 3"};
  auto back = Diagnosis::Decode(Make(Diagnosis::kKind, d.Encode()));
  REQUIRE(back);
  CHECK(back->parent == 7);
  CHECK(back->problem == "failed_task");
  CHECK(back->task == "py/fizzbuzz");
  CHECK(back->proposal == "add a test step");
  CHECK(back->calls_task == "child 3");
  // As lineage wrote it before: the same keys.
  auto old = Diagnosis::Decode(Make("diagnosis", R"({"calls_task":"child 1","parent":2,"problem":"empty_patches",)"
                                                 R"("proposal":"p","task":""})"));
  REQUIRE(old);
  CHECK(old->parent == 2);
  CHECK(old->problem == "empty_patches");
  // Another kind, no parent, no slot, or data that is not an object: not a diagnosis.
  CHECK_FALSE(Diagnosis::Decode(Make("self_modify", d.Encode())));
  CHECK_FALSE(Diagnosis::Decode(Make("diagnosis", R"({"calls_task":"child 1"})")));
  CHECK_FALSE(Diagnosis::Decode(Make("diagnosis", R"({"parent":2})")));
  CHECK_FALSE(Diagnosis::Decode(Make("diagnosis", "[1]")));
}

TEST_CASE("a child's commit event names its attempt and the task its calls are recorded under") {
  const ChildMade made{4, "child 2"};
  for (const char* kind : {"agent.committed", "agent.rejected"}) {
    auto back = ChildMade::Decode(Make(kind, made.Encode()));
    REQUIRE(back);
    CHECK(back->attempt == 4);
    CHECK(back->calls_task == "child 2");
  }
  CHECK_FALSE(ChildMade::Decode(Make("agent.admitted", made.Encode())));
  // A seed's import event carries no slot.
  CHECK_FALSE(ChildMade::Decode(Make("agent.committed", R"({"from":"pending"})")));
}

TEST_CASE("a run's end says why, and when the world's faults paused it, when a daemon retries") {
  const RunEnded faults{3, "fault: the models have failed", true, 1733300000000};
  auto back = RunEnded::Decode(Make("run.paused", faults.Encode()));
  REQUIRE(back);
  CHECK(back->children_made == 3);
  CHECK(back->reason == "fault: the models have failed");
  CHECK(back->fault);
  CHECK(back->retry_at == 1733300000000);
  // A person's pause carries no retry time.
  const RunEnded paused{1, "pausing"};
  CHECK(paused.Encode().find("retry_at") == std::string::npos);
  auto person = RunEnded::Decode(Make("run.paused", R"({"control":"pause","from":"paused"})"));
  REQUIRE(person);
  CHECK_FALSE(person->fault);
  CHECK_FALSE(RunEnded::Decode(Make("diagnosis", faults.Encode())));
}

}  // namespace
}  // namespace lineage::journal

namespace lineage::journal {
namespace {

TEST_CASE("a run's stored configuration reads back as it was written, raised budgets and origin included") {
  StoredConfig c;
  c.source = "/x/run.toml";
  c.base_dir = "/x";
  c.text = "name = \"r\"\n";
  c.models_override = "/x/models.toml";
  c.models_override_text = "[models.m]\n";
  c.raised.children = 9;
  c.raised.cost_usd = 2.5;
  c.raised.tokens = 1000;
  c.raised.task_evaluations = 40;
  c.origin = {RunOrigin::Kind::kFork, 3, 7, ""};
  auto back = StoredConfig::Decode(c.Encode());
  REQUIRE(back);
  CHECK(back->source == c.source);
  CHECK(back->base_dir == c.base_dir);
  CHECK(back->text == c.text);
  CHECK(back->models_override == c.models_override);
  CHECK(back->models_override_text == c.models_override_text);
  CHECK(back->raised.children == 9);
  CHECK(back->raised.cost_usd == 2.5);
  CHECK(back->raised.tokens == 1000);
  CHECK(back->raised.task_evaluations == 40);
  CHECK(back->origin.kind == RunOrigin::Kind::kFork);
  CHECK(back->origin.run == 3);
  CHECK(back->origin.agent == 7);
}

TEST_CASE("a stored configuration written by an earlier lineage reads, and one with no text does not") {
  auto old = StoredConfig::Decode(R"({"text": "name = \"r\"\n", "origin": {"kind": "replay", "run": 4, "home": "/h"}})");
  REQUIRE(old);
  CHECK(old->source == "run config");
  CHECK(old->base_dir == ".");
  CHECK_FALSE(old->raised.children);
  CHECK(old->origin.replay());
  CHECK(old->origin.home == "/h");
  CHECK_FALSE(StoredConfig::Decode("{}"));
  CHECK_FALSE(StoredConfig::Decode("not json"));
  CHECK_FALSE(StoredConfig::Decode(R"({"text": 3})"));
}

TEST_CASE("keys of a stored configuration this lineage does not know are kept when it is written again") {
  auto newer = StoredConfig::Decode(R"({"text": "t", "retention": {"days": 3}, "budget_raised": {"children": 4}})");
  REQUIRE(newer);
  newer->raised.tokens = 10;
  auto again = StoredConfig::Decode(newer->Encode());
  REQUIRE(again);
  CHECK(again->unknown.at("retention") == R"({"days":3})");
  CHECK(again->raised.children == 4);
  CHECK(again->raised.tokens == 10);
  CHECK(again->raised.Encode() == R"({"children":4,"tokens":10})");
}

TEST_CASE("a final stage's event says which table it was, whatever else it holds for people") {
  const std::string data = FinalDone{2}.Encode(R"({"suite":"s","agents":[]})");
  auto back = FinalDone::Decode(Make("final", data));
  REQUIRE(back);
  CHECK(back->table == 2);
  CHECK(data.find("\"suite\":\"s\"") != std::string::npos);
  CHECK_FALSE(FinalDone::Decode(Make("run.finished", data)));
}

TEST_CASE("a run's origin is written as the dashboard and exports show it") {
  CHECK(RunOrigin{}.Encode() == "null");
  CHECK(RunOrigin{RunOrigin::Kind::kFork, 1, 2, ""}.Encode() == R"({"agent":2,"kind":"fork","run":1})");
  CHECK(RunOrigin{RunOrigin::Kind::kReplay, 1, 0, "/h"}.Encode() == R"({"home":"/h","kind":"replay","run":1})");
}

}  // namespace
}  // namespace lineage::journal
