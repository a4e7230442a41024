// The evolution loop's fast tier: the real archive, gateway and loop over a scripted sandbox (nothing runs)
// and a fake model, so each rejection reason, budget, pause, stop and resume is a test of milliseconds.
// The same loop over the real sandbox is tests/orchestrator/evolution_test.cc.
#include <catch2/catch.hpp>

#include "archive/archive.h"
#include "archive/scores.h"
#include "orchestrator/final.h"
#include "orchestrator/run_config.h"
#include "orchestrator/runs.h"
#include "tests/orchestrator/fast_world.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Kind = test::ScriptedSandbox::Kind;
using test::World;

TEST_CASE("fast: each change a self-modification can leave ends its child in its own state and reason") {
  test::World w({"good", "empty", "break", "noop", "fifo"}, 5);
  auto ended = w.Evolve();
  INFO(ended.status().ToString());
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  const std::vector<Agent> children = w.Children();
  REQUIRE(children.size() == 5);
  std::vector<std::pair<std::string, std::string>> got;
  for (const Agent& c : children) got.emplace_back(StateName(c.state), c.reason);
  CHECK(got[0] == std::pair<std::string, std::string>{"admitted", ""});
  CHECK(got[1] == std::pair<std::string, std::string>{"rejected", "empty change: the self-modification left the source as it was"});
  CHECK(got[2] == std::pair<std::string, std::string>{"rejected", "build failed (exit 2)"});
  CHECK(got[3] == std::pair<std::string, std::string>{"rejected", "lost its editing ability: no non-empty patch on any stage-1 task"});
  CHECK(got[4].first == "rejected");
  CHECK_THAT(got[4].second, Catch::StartsWith("unusable change: lineage will not read what the self-modification left"));
  // Every child keeps the diagnosis it was made from, written with it.
  for (const Agent& c : children) CHECK_THAT(c.diagnosis_json, Catch::Contains("MODE: "));
  // The admitted child went through every state; a failed build's log is kept.
  CHECK(w.Count("agent.built") == 3);  // the seed, the admitted child and the one that stopped editing
  CHECK(w.LastEvent("agent.rejected").is_object());
  bool log_kept = false;
  auto events = w.archive->ListEvents(w.run);
  REQUIRE(events.ok());
  for (const Event& e : *events) {
    const json data = json::parse(e.data_json);
    if (e.kind == "agent.rejected" && data.contains("build_log_blob")) {
      auto log = w.archive->GetBlob(data["build_log_blob"]);
      REQUIRE(log.ok());
      log_kept = log->find("extra.py: syntax error") != std::string::npos;
    }
  }
  CHECK(log_kept);
}

TEST_CASE("fast: an answer that is no diagnosis is asked again, and the child is made from the good one") {
  test::World w({"text:I think the agent is fine.", "good"}, 1);
  REQUIRE(w.Evolve().ok());
  REQUIRE(w.Children().size() == 1);
  CHECK(w.Children()[0].state == AgentState::kAdmitted);
  CHECK(w.Count("child.failed") == 0);
  int diagnoses = 0;
  for (const auto& r : w.model->requests()) diagnoses += r.body.dump().find("AGENT-CALL") == std::string::npos;
  CHECK(diagnoses == 2);
}

TEST_CASE("fast: a diagnosis ends its source listing with a prompt-cache breakpoint, the problem after it") {
  test::World w({"good"}, 1, "", "", json::array(), "anthropic");
  REQUIRE(w.Evolve().ok());
  REQUIRE(w.Children().size() == 1);
  json diagnosis;
  for (const auto& r : w.model->requests()) {
    if (r.body.dump().find("problem to learn from") != std::string::npos) diagnosis = r.body;
  }
  REQUIRE(diagnosis.is_object());
  const json& content = diagnosis["messages"][0]["content"];
  REQUIRE(content.size() == 2);
  CHECK(content[0]["cache_control"]["type"] == "ephemeral");  // the same for every diagnosis of this parent
  CHECK_THAT(content[0]["text"].get<std::string>(), Catch::Contains("agent.toml"));
  CHECK_FALSE(content[1].contains("cache_control"));
  CHECK_THAT(content[1]["text"].get<std::string>(), !Catch::Contains("agent.toml"));
}

TEST_CASE("fast: a model that keeps refusing the diagnosis request: attempts are redone, then the run fails saying why") {
  test::World w({"fault"}, 2);
  auto ended = w.Evolve();
  REQUIRE_FALSE(ended.ok());
  CHECK_THAT(ended.status().message(), Catch::Contains("3 attempts in a row made no child") &&
                                           Catch::Contains("the provider refused"));
  CHECK(w.State() == RunState::kFailed);
  CHECK(w.Count("child.failed") == 3);
  CHECK(w.Children().empty());  // no agent is blamed for the provider
  CHECK_THAT(w.LastEvent("run.failed")["error"].get<std::string>(), Catch::Contains("attempts in a row"));
  // A failed run resumes once the world is mended.
  REQUIRE(ApplyControl(*w.archive, w.run, RunControl::kResume).ok());
  CHECK(w.State() == RunState::kQueued);
}

TEST_CASE("fast: a run stops starting children at its dollar budget and spends no more than it") {
  // Calls are admitted on their worst case (3,000 tokens out: about $0.005 at gpt-4.1-mini prices; two of
  // the seed's task runs at once fit in $0.012). Children are made until the next call could pass $0.012,
  // which the gateway then refuses. When that is depends on whether two task runs' reservations overlap
  // (about 8 children when they do, over 20 on a loaded machine where they do not): far fewer than 60.
  World w({"good"}, 60, "cost_usd = 0.012\n");
  auto ended = w.Evolve();
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  CHECK(w.Children().size() > 1);
  CHECK(w.Children().size() < 60);
  CHECK(w.archive->RunSpend(w.run)->cost_usd <= 0.012);
  CHECK_THAT(w.LastEvent("run.finished")["reason"].get<std::string>(), Catch::StartsWith("budget"));
}

TEST_CASE("fast: a run stops starting children at its token budget") {
  World w({"good"}, 60, "tokens = 12000\n");  // 60: as the dollar budget's test
  REQUIRE(w.Evolve().ok());
  CHECK(w.Children().size() > 1);
  CHECK(w.Children().size() < 60);
  CHECK(w.archive->RunSpend(w.run)->tokens <= 12000);
  CHECK_THAT(w.LastEvent("run.finished")["reason"].get<std::string>(), Catch::StartsWith("budget"));
}

TEST_CASE("fast: a run stops starting children when its wall time is spent, by the loop's clock") {
  test::World w({"good"}, 50, "wall_s = 60\n");
  // Each self-modification takes 25 s by the clock: the third child is the last to start.
  w.sandbox.on_run = [&](Kind kind, int) {
    if (kind == Kind::kSelfModify) w.now += 25'000;
  };
  REQUIRE(w.Evolve().ok());
  CHECK(w.Children().size() == 3);
  CHECK(w.LastEvent("run.finished")["reason"] == "budget: wall time");
}

TEST_CASE("fast: pause lets the child in flight finish, and resume goes on to the children wanted") {
  test::World w({"good", "empty"}, 4);
  w.sandbox.on_run = [&](Kind kind, int before) {
    if (kind == Kind::kSelfModify && before == 1) REQUIRE(ApplyControl(*w.archive, w.run, RunControl::kPause).ok());
  };
  auto paused = w.Evolve();
  REQUIRE(paused.ok());
  CHECK(*paused == RunState::kPaused);
  CHECK(w.Children().size() == 2);  // the second was in flight when the pause came
  CHECK(w.Count("run.pausing") == 1);
  CHECK(w.LastEvent("run.paused")["children_made"] == 2);
  // Pausing again changes nothing; a paused run does not run.
  CHECK(*ApplyControl(*w.archive, w.run, RunControl::kPause) == RunState::kPaused);
  CHECK(w.Count("run.paused") == 1);
  CHECK_FALSE(w.Evolve().ok());

  w.sandbox.on_run = nullptr;
  CHECK(*ApplyControl(*w.archive, w.run, RunControl::kResume) == RunState::kQueued);
  auto finished = w.Evolve();
  REQUIRE(finished.ok());
  CHECK(*finished == RunState::kFinished);
  CHECK(w.Children().size() == 4);
  CHECK(w.LastEvent("run.finished")["children_made"] == 4);
}

TEST_CASE("fast: stop ends the run for good once the child in flight is done") {
  test::World w({"good"}, 4);
  w.sandbox.on_run = [&](Kind kind, int before) {
    if (kind == Kind::kSelfModify && before == 0) REQUIRE(ApplyControl(*w.archive, w.run, RunControl::kStop).ok());
  };
  auto stopped = w.Evolve();
  REQUIRE(stopped.ok());
  CHECK(*stopped == RunState::kStopped);
  CHECK(w.Children().size() == 1);
  CHECK(*ApplyControl(*w.archive, w.run, RunControl::kStop) == RunState::kStopped);
  auto resume = ApplyControl(*w.archive, w.run, RunControl::kResume);
  REQUIRE_FALSE(resume.ok());
  CHECK_THAT(resume.status().message(), Catch::Contains("stopped"));
}

TEST_CASE("fast: resumed while pausing, a run goes straight back to running") {
  test::World w({"good"}, 3);
  w.sandbox.on_run = [&](Kind kind, int before) {
    if (kind == Kind::kSelfModify && before == 0) {
      REQUIRE(*ApplyControl(*w.archive, w.run, RunControl::kPause) == RunState::kPausing);
      REQUIRE(*ApplyControl(*w.archive, w.run, RunControl::kResume) == RunState::kRunning);
    }
  };
  auto ended = w.Evolve();
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  CHECK(w.Children().size() == 3);
  CHECK(w.Count("run.pausing") == 1);
  CHECK(w.Count("run.paused") == 0);
}

TEST_CASE("fast: the host's stop leaves the run running, and the next process resumes it") {
  test::World w({"good"}, 3);
  std::atomic<bool> stop{false};
  w.sandbox.on_run = [&](Kind kind, int before) {
    if (kind == Kind::kSelfModify && before == 0) stop = true;
  };
  auto interrupted = w.Evolve(&stop);
  REQUIRE(interrupted.ok());
  CHECK(*interrupted == RunState::kRunning);
  CHECK(w.State() == RunState::kRunning);
  CHECK(w.Count("run.interrupted") == 1);
  w.sandbox.on_run = nullptr;
  auto resumed = w.Evolve();
  REQUIRE(resumed.ok());
  CHECK(*resumed == RunState::kFinished);
  CHECK(w.Count("run.resumed") == 1);
  CHECK(w.Children().size() == 3);
}

TEST_CASE("fast: a home running out of disk pauses the run with the reason instead of failing writes") {
  test::World w({"good"}, 2, "", "[sandbox]\nmin_free = \"100000000G\"\n");
  auto ended = w.Evolve();
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kPaused);
  CHECK_THAT(w.LastEvent("run.paused")["reason"].get<std::string>(), Catch::Contains("under [sandbox] min_free"));
  CHECK(w.sandbox.count(Kind::kBuild) == 0);  // nothing was started
}

TEST_CASE("fast: a seed that does not build fails the run, naming the build's failure") {
  test::World w({"good"}, 1);
  test::WriteFile(w.dir / "seed" / "BROKEN", "");  // too late for the run's seed: it was imported
  test::WriteFile(w.dir / "run2.toml", test::FastRunToml(w.dir.path(), w.model->url(), 1));
  auto config = LoadRunConfig(w.dir / "run2.toml");
  REQUIRE(config.ok());
  auto second = CreateRun(*w.archive, *config);
  REQUIRE(second.ok());
  w.run = *second;
  auto ended = w.Evolve();
  REQUIRE_FALSE(ended.ok());
  CHECK_THAT(ended.status().message(), Catch::Contains("the seed agent does not build: the agent's build failed (exit 2)"));
  CHECK(w.State() == RunState::kFailed);
}

TEST_CASE("fast: a missing prompt template fails the run as it starts, naming the file, never an empty prompt") {
  test::World w({"good"}, 1);
  test::WriteFile(w.dir / "prompts" / "self_modify.md", "Fix this: {{problem_statement}}\n");
  ::setenv("LINEAGE_PROMPTS", (w.dir / "prompts").c_str(), 1);
  auto ended = w.Evolve();
  ::unsetenv("LINEAGE_PROMPTS");
  REQUIRE_FALSE(ended.ok());
  CHECK_THAT(ended.status().message(), Catch::Contains((w.dir / "prompts" / "diagnose.md").string() + " is missing"));
  CHECK(w.State() == RunState::kFailed);
  CHECK(w.model->requests().empty());

  // A template without its placeholder would send the model a prompt with no content where it belongs.
  test::WriteFile(w.dir / "prompts" / "diagnose.md", "Diagnose the agent.\n{{problem}}\n");
  REQUIRE(ApplyControl(*w.archive, w.run, RunControl::kResume).ok());
  ::setenv("LINEAGE_PROMPTS", (w.dir / "prompts").c_str(), 1);
  ended = w.Evolve();
  ::unsetenv("LINEAGE_PROMPTS");
  REQUIRE_FALSE(ended.ok());
  CHECK_THAT(ended.status().message(), Catch::Contains("lacks its placeholder {{agent_source}}"));
}

TEST_CASE("fast: a workspace left as it was, or holding a file no tree may hold, rejects the child, never the run") {
  test::World w({"empty", "dotgit", "good"}, 3);
  auto ended = w.Evolve();
  INFO(ended.status().ToString());
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  const std::vector<Agent> children = w.Children();
  REQUIRE(children.size() == 3);
  CHECK(children[0].reason == "empty change: the self-modification left the source as it was");
  CHECK_THAT(children[1].reason, Catch::StartsWith("unusable change: ") && Catch::Contains(".git"));
  CHECK(children[2].state == AgentState::kAdmitted);
}

TEST_CASE("fast: a run cannot start from a rejected agent, and says so before storing anything") {
  test::World w({"good"}, 1);
  auto rejected = w.archive->AddChild(*w.archive->GetRun(w.run)->seed_agent_id,
                                      {{"agent.toml", TreeEntry::Kind::kFile, "protocol = 1\n"}},
                                      Archive::ChildOptions{.name = "broken", .state = AgentState::kRejected,
                                                            .reason = "build failed (exit 1)"});
  REQUIRE(rejected.ok());
  test::WriteFile(w.dir / "run2.toml", test::FastRunToml(w.dir.path(), w.model->url(), 1));
  std::string toml = test::ReadFileOrDie(w.dir / "run2.toml");
  toml.replace(toml.find("seed_agent = \""), toml.find('\n', toml.find("seed_agent")) - toml.find("seed_agent = \""),
               "seed_agent = " + std::to_string(rejected->id));
  test::WriteFile(w.dir / "run2.toml", toml);
  auto config = LoadRunConfig(w.dir / "run2.toml");
  REQUIRE(config.ok());
  const std::size_t runs_before = w.archive->ListRuns()->size();
  auto second = CreateRun(*w.archive, *config);
  REQUIRE_FALSE(second.ok());
  CHECK_THAT(second.status().message(), Catch::Contains("is rejected (build failed (exit 1))"));
  CHECK(w.archive->ListRuns()->size() == runs_before);
}

TEST_CASE("fast: a provider outage shorter than the patience changes nothing: the same tree as without it") {
  // One outage at each step, each of a different kind; tests/orchestrator/fault_test.cc tries every kind at
  // every step.
  const std::vector<std::string> modes = {"good", "noop", "good", "empty"};
  const std::vector<std::string> expected = test::CalmTree(modes, 4);
  for (const auto& [after, kind] : std::vector<std::pair<int, std::string>>{
           {0, "server_error"}, {3, "drop"}, {4, "auth"}, {5, "rate_limit"}}) {
    INFO("an outage of 3 requests (" << kind << ") from request " << after);
    test::CheckOutageChangesNothing(modes, 4, after, kind, expected);
  }
}

TEST_CASE("fast: an outage that outlasts the patience pauses the run saying why: resumed, it ends as without it") {
  const std::vector<std::string> modes = {"good", "noop", "good"};
  test::World calm(modes, 3, "", "[faults]\npatience_s = 10\n");
  REQUIRE(calm.Evolve().ok());
  // From the first child's diagnosis (request 3) on, 8 requests fail: backoffs of 1, 2, 4 and 8 s pass the
  // 10 s of patience at the fifth.
  test::World stormy(modes, 3, "", "[faults]\npatience_s = 10\n",
               json::array({{{"after", 3}, {"requests", 8}, {"fault", "server_error"}}}));
  auto paused = stormy.Evolve();
  REQUIRE(paused.ok());
  CHECK(*paused == RunState::kPaused);
  const json why = stormy.LastEvent("run.paused");
  CHECK(why["fault"] == true);
  CHECK_THAT(why["reason"].get<std::string>(), Catch::StartsWith("fault: the models have failed since") &&
                                                   Catch::Contains("server"));
  CHECK(stormy.Children().empty());
  REQUIRE(ApplyControl(*stormy.archive, stormy.run, RunControl::kResume).ok());
  auto resumed = stormy.Evolve();
  REQUIRE(resumed.ok());
  CHECK(*resumed == RunState::kFinished);
  CHECK(test::Tree(stormy) == test::Tree(calm));
}

TEST_CASE("fast: a run whose model key is missing is refused before anything is stored, naming the variable") {
  test::World w({"good"}, 1);
  test::WriteFile(w.dir / "run2.toml", test::FastRunToml(w.dir.path(), w.model->url(), 1));
  std::string toml = test::ReadFileOrDie(w.dir / "run2.toml");
  toml.replace(toml.find("max_retries = 0\n"), 16, "max_retries = 0\napi_key_env = \"LINEAGE_TEST_NO_SUCH_KEY\"\n");
  test::WriteFile(w.dir / "run2.toml", toml);
  ::unsetenv("LINEAGE_TEST_NO_SUCH_KEY");
  auto config = LoadRunConfig(w.dir / "run2.toml");
  REQUIRE(config.ok());
  Status checked = CheckRunConfig(*config);
  REQUIRE_FALSE(checked.ok());
  CHECK_THAT(checked.message(), Catch::Contains("LINEAGE_TEST_NO_SUCH_KEY") && Catch::Contains("[models.default]") &&
                                    !Catch::Contains("try again"));
}

TEST_CASE("fast: a run that runs out of budget, mid-evaluation or not, resumed with more ends as if it never had") {
  const std::vector<std::string> modes = {"good", "noop", "good", "empty"};
  World calm(modes, 4);
  REQUIRE(calm.Evolve().ok());
  const std::vector<std::string> expected = test::Tree(calm);
  const std::int64_t used = calm.archive->RunSpend(calm.run)->tokens;
  REQUIRE(used > 0);
  int cut_mid_evaluation = 0;
  // Reservations count a call's worst case, so budgets up to 1.5 times what the run spends still run out.
  for (int quarter = 1; quarter <= 6; ++quarter) {
    const std::int64_t limit = used * quarter / 4;
    INFO("a budget of " << limit << " of the " << used << " tokens the run needs");
    World w(modes, 4, "tokens = " + std::to_string(limit) + "\n");
    auto ended = w.Evolve();
    REQUIRE(ended.ok());
    CHECK(*ended == RunState::kFinished);
    CHECK_THAT(w.LastEvent("run.finished")["reason"].get<std::string>(), Catch::StartsWith("budget"));
    CHECK(w.archive->RunSpend(w.run)->tokens <= limit);
    auto agents = w.archive->ListAgents(w.run);
    REQUIRE(agents.ok());
    for (const Agent& c : *agents) {
      // An agent whose evaluation the budget cut (the seed's or a child's) waits, unjudged, with the cut
      // tasks marked, never scored.
      if (c.state != AgentState::kEvaluating) continue;
      ++cut_mid_evaluation;
      int unscored = 0;
      auto evaluations = w.archive->ListEvaluations(c.id);
      REQUIRE(evaluations.ok());
      for (const Evaluation& e : *evaluations) unscored += e.outcome == Outcome::kOutOfBudget;
      CHECK(unscored > 0);
    }
    BudgetRaise more;
    more.tokens = used * 10;
    auto raised = RaiseBudget(*w.archive, w.run, more);
    REQUIRE(raised.ok());
    CHECK(*raised == RunState::kQueued);
    auto resumed = w.Evolve();
    REQUIRE(resumed.ok());
    CHECK(*resumed == RunState::kFinished);
    CHECK(test::Tree(w) == expected);
  }
  CHECK(cut_mid_evaluation > 0);
  // Raising what is not raised, or the budget of a run that is running, is refused with the reason.
  BudgetRaise less;
  less.children = 2;
  auto refused = RaiseBudget(*calm.archive, calm.run, less);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains("--children 2 does not raise run 1's 4"));
}

}  // namespace
}  // namespace lineage

namespace lineage {
namespace {

TEST_CASE("fast: [[final]] evaluates the run's top agents on a held-out set as it ends, apart from their scores") {
  test::World w({"unique", "noop"}, 2, "", "[[final]]\nsuite = \"fast\"\ntasks = [\"t1\", \"t3\"]\ntop = 5\n");
  auto ended = w.Evolve();
  INFO(ended.status().ToString());
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  const json final = w.LastEvent("final");
  REQUIRE(final.is_object());
  CHECK(final["suite"] == "fast");
  CHECK(final["tasks"] == 2);
  REQUIRE(final["agents"].size() == 2);  // the admitted ones: the seed and the unique child (noop was rejected)
  for (const json& a : final["agents"]) {
    CHECK(a["attempted"] == 2);
    CHECK(a["solved"] == 2);
    CHECK(a["score_interval"].is_array());
    auto evaluations = w.archive->ListEvaluations(a["agent"].get<AgentId>());
    REQUIRE(evaluations.ok());
    int held_out = 0;
    for (const Evaluation& e : *evaluations) held_out += e.suite == "final:fast" && e.stage == 0;
    CHECK(held_out == 2);
    // Its score is the run's alone: 3 of 3, not 5 of 5.
    auto agent = w.archive->GetAgent(a["agent"].get<AgentId>());
    CHECK(AttemptedTasks(*agent) == 3);
  }
  CHECK(w.Count("final") == 1);
}

TEST_CASE("fast: held-out results never reach a diagnosis, even of an agent evaluated on them") {
  // Every agent solves every task, so each diagnosis learns from a task drawn among its parent's results:
  // were the held-out ones among them, six diagnoses would miss both about one time in twenty.
  test::World w({"unique"}, 2, "", "[[final]]\nsuite = \"fast\"\ntasks = [\"t1\", \"t3\"]\ntop = 5\n");
  REQUIRE(w.Evolve().ok());
  REQUIRE(w.Count("final") == 1);
  BudgetRaise raise;
  raise.children = 8;
  REQUIRE(RaiseBudget(*w.archive, w.run, raise).ok());
  auto ended = w.Evolve();
  INFO(ended.status().ToString());
  REQUIRE(ended.ok());
  CHECK(w.Children().size() == 8);
  int diagnoses = 0;
  for (const auto& r : w.model->requests()) {
    const std::string body = r.body.dump();
    if (body.find("AGENT-CALL") != std::string::npos) continue;
    ++diagnoses;
    CHECK(body.find("final:fast") == std::string::npos);
  }
  CHECK(diagnoses >= 8);
}

TEST_CASE("fast: a [[final]] that selects nothing is refused before the run starts, naming its table") {
  test::TempDir dir;
  test::WriteFastWorld(dir.path());
  auto config = ParseRunConfig(test::FastRunToml(dir.path(), "http://127.0.0.1:9", 1, "",
                                                 "[[final]]\nsuite = \"fast\"\ntasks = [\"t9*\"]\n"),
                               (dir / "run.toml").string(), dir.path());
  REQUIRE(config.ok());
  Status checked = CheckFinals(*config);
  CHECK_THAT(checked.message(), Catch::Contains("[[final]] #1") && Catch::Contains("t9*"));
  auto threshold = ParseRunConfig(test::FastRunToml(dir.path(), "http://127.0.0.1:9", 1, "",
                                                    "[[final]]\nsuite = \"fast\"\nthreshold = 0.5\n"),
                                  (dir / "run.toml").string(), dir.path());
  CHECK_THAT(threshold.status().message(), Catch::Contains("[[final]] #1") && Catch::Contains("threshold"));
}

}  // namespace
}  // namespace lineage
