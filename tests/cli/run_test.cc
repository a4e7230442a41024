// `lineage run` and `lineage daemon` end to end, with the fake model server in this process and the real
// binary in child processes: validation errors, foreground runs, the daemon's control API, and kill -9 at
// random moments followed by a resume.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "archive/archive.h"
#include "llm/fake_server.h"
#include "tests/orchestrator/evolution_test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::RunLineage;
using test::TempDir;
using test::WriteFile;

std::string ValidateError(const std::string& toml) {
  TempDir dir;
  WriteFile(dir / "run.toml", toml);
  auto r = RunLineage(dir / "home", {"run", "validate", (dir / "run.toml").string()});
  CHECK(r.exit_code == 1);
  return r.err;
}

TEST_CASE("run validate accepts a good configuration and names the key and allowed values of a bad one") {
  TempDir dir;
  const std::string good = test::RunToml("http://127.0.0.1:9", 4, 2);
  WriteFile(dir / "run.toml", good);
  auto ok = RunLineage(dir / "home", {"run", "validate", (dir / "run.toml").string()});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.out, Catch::Contains("valid"));
  CHECK_FALSE(fs::exists(dir / "home"));  // nothing started, nothing created
  // A seed named by an agent id must be an agent of the home's archive.
  std::string by_id = good;
  by_id.replace(by_id.find("seed_agent = "), by_id.find('\n', by_id.find("seed_agent = ")) - by_id.find("seed_agent = "),
                "seed_agent = 99");
  WriteFile(dir / "by-id.toml", by_id);
  auto no_archive = RunLineage(dir / "home", {"run", "validate", (dir / "by-id.toml").string()});
  CHECK(no_archive.exit_code == 1);
  CHECK_THAT(no_archive.err, Catch::Contains("seed_agent: 99 names an agent of the archive in") &&
                                 Catch::Contains("which has no archive"));
  REQUIRE(RunLineage(dir / "home", {"init"}).exit_code == 0);
  auto no_agent = RunLineage(dir / "home", {"run", "validate", (dir / "by-id.toml").string()});
  CHECK(no_agent.exit_code == 1);
  CHECK_THAT(no_agent.err, Catch::Contains("seed_agent") && Catch::Contains("agent 99 does not exist"));
  // Under hgm the stages' thresholds do not gate, and validate does not say they do.
  WriteFile(dir / "hgm.toml", test::RunToml("http://127.0.0.1:9", 4, 2, "task_evaluations = 9\n") + "[selection]\nstrategy = \"hgm\"\n");
  auto hgm = RunLineage(dir / "home", {"run", "validate", (dir / "hgm.toml").string()});
  INFO(hgm.err);
  CHECK_THAT(ok.out, Catch::Contains("on to stage 2 at 50% solved"));
  CHECK_THAT(hgm.out, !Catch::Contains("on to stage") && Catch::Contains("thresholds do not gate"));
  fs::remove_all(dir / "home");

  // --probe calls the models: nothing listens at 127.0.0.1:9, and it says so; a live model answers.
  auto probe = RunLineage(dir / "home", {"run", "validate", "--probe", (dir / "run.toml").string()});
  CHECK(probe.exit_code == 1);
  CHECK_THAT(probe.out, Catch::Contains("probe: diagnosis (alias default): FAILED unreachable"));
  auto fake = test::StartFakeModel();
  WriteFile(dir / "live.toml", test::RunToml(fake->url(), 4, 2));
  auto live = RunLineage(dir / "home", {"run", "validate", "--probe", (dir / "live.toml").string()});
  INFO(live.err);
  CHECK(live.exit_code == 0);
  CHECK_THAT(live.out, Catch::Contains("probe: diagnosis (alias default): ok"));

  // What it would cost, from the model's prices (nothing is recorded yet), and a budget that cannot pay.
  CHECK_THAT(ok.out, Catch::Contains("forecast, per child: $") && Catch::Contains(" to self-modify; per task run $") &&
                         Catch::Contains("estimates from prices"));
  CHECK_THAT(ok.out, Catch::Contains("a child costs $") && Catch::Contains(" through stage 2; 4 children: $"));
  std::string poor = good;
  poor.replace(poor.find("children = 4"), 12, "children = 4\ncost_usd = 0.0001");
  WriteFile(dir / "poor.toml", poor);
  auto warned = RunLineage(dir / "home", {"run", "validate", (dir / "poor.toml").string()});
  CHECK(warned.exit_code == 0);
  CHECK_THAT(warned.out, Catch::Contains("warning: [budget] cost_usd $0.0001 cannot cover even stage 1 of the 4 "
                                         "children asked for"));

  CHECK_THAT(ValidateError(good + "[selection]\nstrategy = \"greedy\"\n"),
             Catch::Contains("[selection] strategy: 'greedy' is not one of dgm, score-prop, best, random, hgm, "
                             "no-open-ended, no-self-improve"));
  CHECK_THAT(ValidateError(good + "colour = 3\n"), Catch::Contains("colour: is not a known key"));
  // A typo gets the nearest key, and every unknown key the table's allowed keys.
  CHECK_THAT(ValidateError(good + "[selection]\nstrateg = \"dgm\"\n"),
             Catch::Contains("[selection] strateg: is not a known key; did you mean strategy? (allowed: alpha, alpha0, "
                             "lambda, strategy; see"));
  std::string no_children = good;
  no_children.replace(no_children.find("children = 4"), 12, "cost_usd = 1");
  CHECK_THAT(ValidateError(no_children), Catch::Contains("[budget] children: is required"));
  std::string bad_role = good + "[roles]\ndiagnosis = \"big\"\n";
  CHECK_THAT(ValidateError(bad_role), Catch::Contains("[roles] diagnosis: 'big' is not a model alias (aliases: default)"));
  std::string bad_seed = good;
  bad_seed.replace(bad_seed.find("seed_agent = \""), 14, "seed_agent = \"/nonexistent");
  CHECK_THAT(ValidateError(bad_seed), Catch::Contains("seed_agent"));
  std::string bad_task = good;
  bad_task.replace(bad_task.find("py/palindrome"), 13, "py/nonexistent");
  CHECK_THAT(ValidateError(bad_task), Catch::Contains("'py/nonexistent' matches no task"));
  CHECK_THAT(ValidateError(good + "[executor]\nkind = \"cluster\"\n"), Catch::Contains("[executor] kind: 'cluster' is not one of local, slurm"));
  CHECK_THAT(ValidateError(good + "[executor]\nkind = \"slurm\"\n"), Catch::Contains("[executor] shared_dir: is required"));
  CHECK_THAT(ValidateError(good + "[executor]\nkind = \"slurm\"\nshared_dir = \"/tmp\"\ngateway_listen = \"0.0.0.0\"\n"),
             Catch::Contains("[executor] gateway_listen: '0.0.0.0' is a wildcard address"));
}

TEST_CASE("DGM's Polyglot preset validates given the benchmark's path and a key, and says what each stage runs") {
  TempDir dir;
  const std::string preset = (fs::path(LINEAGE_SOURCE_DIR) / "examples" / "dgm-polyglot.toml").string();
  const std::string data = (fs::path(LINEAGE_SOURCE_DIR) / "tests" / "evaluators" / "data" / "polyglot-dgm-small").string();
  auto ok = RunLineage(dir / "home", {"run", "validate", preset}, {{"POLYGLOT_BENCHMARK", data}, {"ANTHROPIC_API_KEY", "k"}});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.out, Catch::Contains("80 children, strategy dgm, 2 stages"));
  CHECK_THAT(ok.out, Catch::Contains("stage 1: 10 tasks of polyglot (dgm-small); on to stage 2 at 40% solved"));
  CHECK_FALSE(fs::exists(dir / "home"));

  auto no_path = RunLineage(dir / "home", {"run", "validate", preset}, {{"ANTHROPIC_API_KEY", "k"}});
  CHECK(no_path.exit_code == 1);
  CHECK_THAT(no_path.err, Catch::Contains("[suites.polyglot] path: '$POLYGLOT_BENCHMARK' names $POLYGLOT_BENCHMARK, "
                                          "which is not set"));
}

// The children of run 1 in `home`, by status, and fsck's verdict.
struct Observed {
  std::string run_status;
  std::map<std::string, int> statuses;
  int children = 0;
  bool fsck_clean = false;
};

Observed State(const fs::path& home) {
  Observed s;
  auto archive = Archive::Open(home);
  REQUIRE(archive.ok());
  auto run = (*archive)->GetRun(1);
  REQUIRE(run.ok());
  s.run_status = StateName(run->state);
  auto agents = (*archive)->ListAgents(1);
  REQUIRE(agents.ok());
  for (const Agent& a : *agents) {
    if (!a.parent_id || a.state == AgentState::kFailed) continue;
    ++s.children;
    ++s.statuses[StateName(a.state)];
  }
  auto issues = (*archive)->Fsck(false);
  REQUIRE(issues.ok());
  s.fsck_clean = issues->empty();
  return s;
}

TEST_CASE("run start --foreground runs to the end: run status, list and logs report it") {
  auto fake = test::StartFakeModel();
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 4, 2));
  auto r = RunLineage(dir / "home", {"run", "start", (dir / "run.toml").string(), "--foreground"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("run 1: finished"));
  CHECK_THAT(r.err, Catch::Contains("agent.admitted"));
  auto status = RunLineage(dir / "home", {"run", "status", "1", "--json"});
  REQUIRE(status.exit_code == 0);
  json s = json::parse(status.out);
  CHECK(s["status"] == "finished");
  CHECK(s["children"] == 4);
  CHECK(s["admitted"] == 1);
  CHECK(s["rejected"] == 3);
  CHECK(s["model_calls"].get<int>() > 0);
  auto watch = RunLineage(dir / "home", {"run", "status", "1", "--watch"});  // a finished run: one view, then exit
  CHECK(watch.exit_code == 0);
  CHECK_THAT(watch.out, Catch::Contains("children: 4 of 4 (1 admitted, 3 rejected, 0 in progress)"));
  CHECK_THAT(watch.out, Catch::Contains("in flight: none"));
  CHECK_THAT(watch.out, Catch::Contains("run.finished"));
  // Where the money went.
  CHECK_THAT(watch.out, Catch::Contains("by purpose: diagnose $") && Catch::Contains("evaluate $") &&
                            Catch::Contains("self_modify $") && Catch::Contains("failed calls: 0"));
  CHECK_THAT(watch.out, Catch::Contains("per admitted child: $"));
  // The next run's forecast reads this one's records.
  auto forecast = RunLineage(dir / "home", {"run", "validate", (dir / "run.toml").string()});
  CHECK(forecast.exit_code == 0);
  CHECK_THAT(forecast.out, Catch::Contains("to diagnose (mean of "));
  CHECK_THAT(forecast.out, Catch::Contains("per task run $") && Catch::Contains("recorded)\n"));
  // Records priced otherwise than the run's models now are (a scripted run's, a price since changed) say
  // nothing of what it will spend: the forecast falls back to its estimate.
  std::string repriced = test::ReadFileOrDie(dir / "run.toml");
  repriced.replace(repriced.find("model = \"gpt-4.1-mini\"\n"), std::string("model = \"gpt-4.1-mini\"\n").size(),
                   "model = \"gpt-4.1-mini\"\ninput_usd_per_mtok = 30.0\noutput_usd_per_mtok = 120.0\n");
  WriteFile(dir / "repriced.toml", repriced);
  auto estimate = RunLineage(dir / "home", {"run", "validate", (dir / "repriced.toml").string()});
  INFO(estimate.out << estimate.err);
  CHECK(estimate.exit_code == 0);
  CHECK_THAT(estimate.out, Catch::Contains("forecast, per child: $") && !Catch::Contains("recorded)"));
  // What one child cost: its diagnosis and its parent's self-modification, and its own evaluation.
  int evaluated = 0;
  for (const char* id : {"2", "3", "4", "5"}) {
    auto child = json::parse(RunLineage(dir / "home", {"show", id, "--json"}).out);
    CHECK(child["cost"]["diagnose"].get<double>() > 0);
    CHECK(child["cost"]["self_modify"].get<double>() > 0);
    evaluated += child["status"] == "admitted" && child["cost"].contains("evaluate");
  }
  CHECK(evaluated == 1);  // the admitted child's evaluation is its own
  // Scores carry their 95% interval, and a child is set beside its parent on the tasks both ran.
  for (const char* id : {"2", "3", "4", "5"}) {
    auto child = json::parse(RunLineage(dir / "home", {"show", id, "--json"}).out);
    if (child["status"] != "admitted") continue;
    CHECK(child["score_interval"].is_array());
    CHECK(child["score_interval"][0].get<double>() < child["score"].get<double>());
    CHECK(child["paired"]["shared"] == 3);
    CHECK_THAT(RunLineage(dir / "home", {"show", id}).out,
               Catch::Contains("vs parent    on the 3 tasks both ran: ") && Catch::Contains(" [0."));
  }
  CHECK_THAT(watch.out, Catch::Contains("best agent: #") && Catch::Contains(", score 1.000 [0.439, 1.000]"));
  CHECK_THAT(RunLineage(dir / "home", {"show", "2"}).out, Catch::Contains("cost         $") && Catch::Contains("diagnosis $"));
  auto list = RunLineage(dir / "home", {"run", "list"});
  CHECK_THAT(list.out, Catch::Contains("test run"));
  auto logs = RunLineage(dir / "home", {"run", "logs", "1"});
  CHECK_THAT(logs.out, Catch::Contains("diagnosis"));
  CHECK_THAT(logs.out, Catch::Contains("run.finished"));
  auto resume_finished = RunLineage(dir / "home", {"run", "resume", "1"});
  CHECK(resume_finished.exit_code == 1);
  CHECK_THAT(resume_finished.err, Catch::Contains("run 1 is finished; it cannot resume"));
  // With more children, a finished run goes on.
  auto more = RunLineage(dir / "home", {"run", "resume", "1", "--children", "5", "--foreground"});
  INFO(more.err);
  CHECK(more.exit_code == 0);
  CHECK_THAT(more.out, Catch::Contains("run 1: budget raised (queued)") && Catch::Contains("run 1: finished"));
  CHECK(json::parse(RunLineage(dir / "home", {"run", "status", "1", "--json"}).out)["children"] == 5);
}

TEST_CASE("kill -9 at random moments, then resume: nothing lost, nothing duplicated, fsck clean") {
  // Slow model answers stretch each step so that kills land inside diagnoses, self-modifications,
  // builds and evaluations.
  auto fake = test::StartFakeModel(/*delay_ms=*/150);
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 4, 2));
  // A fixed seed: a failure replays with the same kill times.
  std::mt19937 rng(20261127);
  int kills = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> args = round == 0 ? std::vector<std::string>{"run", "start", (dir / "run.toml").string(), "--foreground"}
                                               : std::vector<std::string>{"run", "resume", "1", "--foreground"};
    pid_t pid = test::SpawnCommand(test::LineageArgv(dir / "home", args));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 1500)(rng)));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ++kills;
    }
    if (State(dir / "home").run_status == "finished") break;
  }
  // The run takes seconds and the first kill comes within 1.5 s: at least that one lands mid-run, else this
  // test would prove nothing.
  CHECK(kills >= 1);
  WARN("kill -9 landed " << kills << " times");
  auto last = RunLineage(dir / "home", {"run", "resume", "1", "--foreground"});
  if (last.exit_code != 0) {
    // It may have finished in the last round already.
    CHECK_THAT(last.err, Catch::Contains("is finished"));
  }
  Observed s = State(dir / "home");
  CHECK(s.run_status == "finished");
  CHECK(s.children == 4);
  CHECK(s.statuses["admitted"] + s.statuses["rejected"] == 4);
  CHECK(s.fsck_clean);
  auto fsck = RunLineage(dir / "home", {"fsck"});
  CHECK(fsck.exit_code == 0);
}

TEST_CASE("run final evaluates a run's best agents on a held-out suite and reports it apart from their scores") {
  auto fake = test::StartFakeModel();
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 1, 1));
  REQUIRE(RunLineage(dir / "home", {"run", "start", (dir / "run.toml").string(), "--foreground"}).exit_code == 0);
  const json before = json::parse(RunLineage(dir / "home", {"show", "1", "--json"}).out);
  auto final = RunLineage(dir / "home", {"run", "final", "1", "--suite", "starter", "--tasks", "py/palindrome,py/fizzbuzz", "--top", "1"});
  INFO(final.err);
  REQUIRE(final.exit_code == 0);
  CHECK_THAT(final.out, Catch::Contains("final: 1 agent(s) on 2 held-out task(s) of starter"));
  CHECK_THAT(final.out, Catch::Contains("#1      1.000 [0.439, 1.000]     1.000 [0.342, 1.000]  2/2"));
  const json status = json::parse(RunLineage(dir / "home", {"run", "status", "1", "--json"}).out);
  REQUIRE(status["final"].size() == 1);
  CHECK(status["final"][0]["agents"][0]["agent"] == 1);
  CHECK_THAT(RunLineage(dir / "home", {"run", "status", "1"}).out, Catch::Contains("held-out task(s) of starter"));
  // The held-out runs are the agent's, under their own suite name; its score is the run's still.
  const json after = json::parse(RunLineage(dir / "home", {"show", "1", "--json"}).out);
  CHECK(after["score"] == before["score"]);
  CHECK(after["attempted"] == before["attempted"]);
  int held_out = 0;
  for (const json& e : after["evaluations"]) held_out += e["suite"] == "final:starter" && e["stage"] == 0;
  CHECK(held_out == 2);
  auto bad = RunLineage(dir / "home", {"run", "final", "1", "--suite", "nosuch"});
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, Catch::Contains("nosuch"));
}

TEST_CASE("run fork from a seed its run has not judged: refused while the run goes on, evaluated by the fork once paused") {
  auto slow = test::StartFakeModel(/*delay_ms=*/3000);
  auto fast = test::StartFakeModel();
  TempDir dir;
  const fs::path home = dir / "home";
  WriteFile(dir / "run.toml", test::RunToml(slow->url(), 1, 1));
  WriteFile(dir / "fast.toml", "[models.default]\nprovider = \"openai\"\nbase_url = \"" + fast->url() +
                                   "/v1\"\nmodel = \"gpt-4.1-mini\"\n");
  // Killed while its seed's first task waits for an answer: the seed is left evaluating.
  pid_t pid = test::SpawnCommand(test::LineageArgv(home, {"run", "start", (dir / "run.toml").string(), "--foreground"}));
  for (int i = 0; i < 600 && slow->requests().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE_FALSE(slow->requests().empty());
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(json::parse(RunLineage(home, {"show", "1", "--json"}).out)["status"] == "evaluating");

  auto refused = RunLineage(home, {"run", "fork", "1", "--from", "1", "--models", (dir / "fast.toml").string()});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("agent 1 is still evaluating in run 1 (running)") &&
                              Catch::Contains("`lineage run pause 1`"));
  REQUIRE(RunLineage(home, {"run", "pause", "1"}).exit_code == 0);
  auto fork = RunLineage(home, {"run", "fork", "1", "--from", "1", "--models", (dir / "fast.toml").string(), "--foreground"});
  INFO(fork.out << fork.err);
  CHECK(fork.exit_code == 0);
  CHECK_THAT(fork.out, Catch::Contains("run 2: fork of run 1 from agent #1") && Catch::Contains("run 2: finished"));
  CHECK(json::parse(RunLineage(home, {"show", "1", "--json"}).out)["status"] == "admitted");
}

TEST_CASE("run fork starts a run from a child, keeping its task results where the stages are the same") {
  auto fake = test::StartFakeModel();
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 1, 1));
  REQUIRE(RunLineage(dir / "home", {"run", "start", (dir / "run.toml").string(), "--foreground"}).exit_code == 0);
  const json child = json::parse(RunLineage(dir / "home", {"show", "2", "--json"}).out);
  REQUIRE(child["status"] == "admitted");  // the script's first change is a good one

  // The same stages: the child's results stand, and nothing of it is run again.
  auto same = RunLineage(dir / "home", {"run", "fork", "1", "--from", "2", "--foreground"});
  INFO(same.err);
  REQUIRE(same.exit_code == 0);
  CHECK_THAT(same.out, Catch::Contains("run 2: fork of run 1 from agent #2") && Catch::Contains("run 2: finished"));
  CHECK_THAT(same.err, !Catch::Contains("agent 2 stage"));
  const json status = json::parse(RunLineage(dir / "home", {"run", "status", "2", "--json"}).out);
  CHECK(status["origin"] == json({{"kind", "fork"}, {"run", 1}, {"agent", 2}}));
  CHECK(status["children"] == 1);
  CHECK_THAT(RunLineage(dir / "home", {"run", "status", "2"}).out, Catch::Contains("origin: fork of run 1 from agent #2"));
  const json tree = json::parse(RunLineage(dir / "home", {"tree", "--json"}).out);
  bool grandchild = false;
  for (const json& a : tree["agents"]) grandchild |= a["parent"] == 2;
  CHECK(grandchild);  // the fork's child grew from agent 2

  // Another benchmark: only the tasks the child never ran are run.
  std::string other = test::RunToml(fake->url(), 1, 1);
  other.replace(other.find("[\"py/palindrome\"]"), std::string("[\"py/palindrome\"]").size(), "[\"py/palindrome\", \"py/word-count\"]");
  WriteFile(dir / "other.toml", other);
  auto moved = RunLineage(dir / "home", {"run", "fork", "1", "--from", "2", "--config", (dir / "other.toml").string(), "--foreground"});
  INFO(moved.err);
  REQUIRE(moved.exit_code == 0);
  CHECK_THAT(moved.err, Catch::Contains("agent 2 stage 1: py/fizzbuzz solved (recorded before)") &&
                            Catch::Contains("agent 2 stage 2: py/palindrome solved (recorded before)"));
  CHECK_THAT(moved.err, Catch::Contains("agent 2 stage 2: py/word-count") &&
                            !Catch::Contains("py/word-count empty_patch (recorded before)"));

  auto refused = RunLineage(dir / "home", {"run", "fork", "1", "--from", "99"});
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.err, Catch::Contains("99"));
}

// Run 1 of dir/home, recorded with the scripted model, which is stopped afterwards: nothing answers at its
// address any more, so only a replay can run it again.
void RecordRun(const TempDir& dir, int children, int in_flight) {
  auto fake = test::StartFakeModel();
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), children, in_flight));
  auto recorded = RunLineage(dir / "home", {"run", "start", (dir / "run.toml").string(), "--foreground"});
  INFO(recorded.err);
  REQUIRE(recorded.exit_code == 0);
}

TEST_CASE("run replay re-runs a recorded run with no model reachable, to the same tree, and stops where a record was altered") {
  TempDir dir;
  RecordRun(dir, 3, 1);

  auto replayed = RunLineage(dir / "home", {"run", "replay", "1", "--to", (dir / "replay").string()});
  INFO(replayed.out << replayed.err);
  REQUIRE(replayed.exit_code == 0);
  CHECK_THAT(replayed.out, Catch::Contains("the same tree: 4 agents with the same parents, statuses, reasons, scores and source trees"));
  // The same tree, as `tree` prints it, and the same commit trees.
  CHECK(RunLineage(dir / "replay", {"tree"}).out == RunLineage(dir / "home", {"tree"}).out);
  for (const char* id : {"1", "2", "3", "4"}) {
    CHECK(json::parse(RunLineage(dir / "replay", {"show", id, "--json"}).out)["score"] ==
          json::parse(RunLineage(dir / "home", {"show", id, "--json"}).out)["score"]);
  }
  const json status = json::parse(RunLineage(dir / "replay", {"run", "status", "1", "--json"}).out);
  CHECK(status["origin"]["kind"] == "replay");
  CHECK_THAT(RunLineage(dir / "replay", {"run", "status", "1"}).out, Catch::Contains("origin: replay of run 1 of "));

  // The replay never goes on live, where it would call real providers.
  auto live = RunLineage(dir / "replay", {"run", "resume", "1", "--children", "5", "--foreground"});
  CHECK(live.exit_code != 0);
  CHECK_THAT(live.err, Catch::Contains("is a replay of a recorded run"));

  // Into a home that has runs: refused, nothing touched.
  auto again = RunLineage(dir / "home", {"run", "replay", "1", "--to", (dir / "replay").string()});
  CHECK(again.exit_code != 0);
  CHECK_THAT(again.err, Catch::Contains("holds runs already"));

  // A recorded answer altered: the second child's diagnosis answers the first child's. The parent's
  // self-modification then asks what the record never asked: the replay stops there and names the call.
  auto archive = Archive::Open(dir / "home");
  REQUIRE(archive.ok());
  auto first = (*archive)->ListModelCalls(1, "child 1");
  auto second = (*archive)->ListModelCalls(1, "child 2");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  std::string first_diagnosis, second_diagnosis;
  for (const ModelCall& c : *first) if (c.purpose == "diagnose") first_diagnosis = c.response_blob;
  for (const ModelCall& c : *second) if (c.purpose == "diagnose") second_diagnosis = c.response_blob;
  REQUIRE_FALSE(first_diagnosis.empty());
  REQUIRE(first_diagnosis != second_diagnosis);
  archive->reset();
  test::RunCommand({"/usr/bin/env", "python3", "-c",
                    "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); db.execute(\"UPDATE model_calls SET response_blob=? "
                    "WHERE task_id='child 1' AND purpose='diagnose'\", (sys.argv[2],)); db.commit()",
                    (dir / "home" / "archive.db").string(), second_diagnosis});
  auto diverged = RunLineage(dir / "home", {"run", "replay", "1", "--to", (dir / "replay2").string()});
  INFO(diverged.out << diverged.err);
  CHECK(diverged.exit_code != 0);
  CHECK_THAT(diverged.out, Catch::Contains("diverged at agent #1, purpose self_modify, task child 1, call 1: the request differs"));
  CHECK_THAT(diverged.out, Catch::Contains("--- recorded") && Catch::Contains("+++ replayed"));

  // A recorded response whose bytes were altered: the replay stops at that very call.
  const fs::path blob = dir / "home" / "blobs" / second_diagnosis.substr(0, 2) / second_diagnosis.substr(2);
  REQUIRE(fs::exists(blob));
  fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
  WriteFile(blob, "not what was recorded");
  auto tampered = RunLineage(dir / "home", {"run", "replay", "1", "--to", (dir / "replay3").string()});
  INFO(tampered.out << tampered.err);
  CHECK(tampered.exit_code != 0);
  CHECK_THAT(tampered.out, Catch::Contains("diverged at agent none, purpose diagnose, task child 1, call 1: its recorded "
                                           "response is unreadable"));
}

TEST_CASE("a replay that diverges, or meets a huge recorded string, ends the replay's run and never crashes") {
  TempDir dir;
  RecordRun(dir, 1, 1);
  // The first diagnosis's recorded request becomes a 3 MB temporary path: a request-comparing regex recursed
  // once per character and crashed the replay.
  auto archive = Archive::Open(dir / "home");
  REQUIRE(archive.ok());
  auto calls = (*archive)->ListModelCalls(1, "child 1");
  REQUIRE(calls.ok());
  bool diagnosed = false;
  for (const ModelCall& c : *calls) diagnosed |= c.purpose == "diagnose";
  REQUIRE(diagnosed);
  auto huge = (*archive)->PutBlob("{\"path\": \"/tmp/" + std::string(3 << 20, 'x') + "\"}");
  REQUIRE(huge.ok());
  archive->reset();
  test::RunCommand({"/usr/bin/env", "python3", "-c",
                    "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); db.execute(\"UPDATE model_calls SET request_blob=? "
                    "WHERE task_id='child 1' AND purpose='diagnose'\", (sys.argv[2],)); db.commit()",
                    (dir / "home" / "archive.db").string(), *huge});
  auto replayed = RunLineage(dir / "home", {"run", "replay", "1", "--to", (dir / "replay").string()});
  INFO(replayed.out.substr(0, 2000) << replayed.err.substr(0, 2000));
  CHECK(replayed.signal == 0);
  CHECK(replayed.exit_code == 1);
  CHECK_THAT(replayed.out, Catch::Contains("diverged at agent none, purpose diagnose, task child 1, call 1: the request differs"));
  // The diverged replay's run has ended, with why: nothing is left marked running.
  const json status = json::parse(RunLineage(dir / "replay", {"run", "status", "1", "--json"}).out);
  CHECK(status["status"] == "failed");
  CHECK_THAT(RunLineage(dir / "replay", {"run", "list"}).out, !Catch::Contains("running"));
}

TEST_CASE("replaying an archive whose stored configuration names an exec suite runs no program of it") {
  TempDir dir;
  RecordRun(dir, 1, 1);
  // Someone tampers with the home: its stored configuration now runs their program as an exec suite.
  WriteFile(dir / "evil/evil.sh", "#!/bin/sh\ntouch '" + (dir / "pwned").string() + "'\necho '{\"tasks\": []}'\n");
  fs::permissions(dir / "evil/evil.sh", fs::perms::owner_all);
  test::RunCommand({"/usr/bin/env", "python3", "-c",
                    "import json, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); c = json.loads(db.execute('SELECT config "
                    "FROM runs WHERE id=1').fetchone()[0]); c['text'] = c['text'].replace('suite = \"starter\"', "
                    "'suite = \"evil\"', 1) + '[suites.evil]\\nkind = \"exec\"\\npath = \"' + sys.argv[2] + '\"\\n'; "
                    "db.execute('UPDATE runs SET config=? WHERE id=1', "
                    "(json.dumps(c),)); db.commit()",
                    (dir / "home" / "archive.db").string(), (dir / "evil/evil.sh").string()});
  auto replayed = RunLineage(dir / "home", {"run", "replay", "1", "--to", (dir / "replay").string()});
  INFO(replayed.out << replayed.err);
  CHECK(replayed.exit_code != 0);
  CHECK_THAT(replayed.err, Catch::Contains("exec suite") && Catch::Contains("--allow-exec"));
  CHECK_FALSE(fs::exists(dir / "pwned"));
}

TEST_CASE("a suite kept inside the seed agent's source is refused: every agent would get its tests") {
  TempDir dir;
  fs::copy(test::kScriptedAgent, dir / "seed", fs::copy_options::recursive);
  WriteFile(dir / "seed/suite/task/solution/answer.py", "REFERENCE\n");
  std::string toml = test::RunToml("http://127.0.0.1:9", 1, 1);
  toml.replace(toml.find(test::kScriptedAgent.string()), test::kScriptedAgent.string().size(), (dir / "seed").string());
  for (std::size_t at = toml.find("suite = \"starter\""); at != std::string::npos; at = toml.find("suite = \"starter\"")) {
    toml.replace(at, std::string("suite = \"starter\"").size(), "suite = \"mine\"");
  }
  WriteFile(dir / "run.toml", toml + "[suites.mine]\nkind = \"taskdir\"\npath = \"seed/suite\"\n");
  auto validated = RunLineage(dir / "home", {"run", "validate", (dir / "run.toml").string()});
  INFO(validated.out << validated.err);
  CHECK(validated.exit_code != 0);
  CHECK_THAT(validated.err, Catch::Contains("suite 'mine'") && Catch::Contains("lies inside seed_agent"));
}

TEST_CASE("run start --foreground while a daemon serves the home stores nothing, so the daemon spends nothing") {
  auto fake = test::StartFakeModel();
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 1, 1));
  const fs::path home = dir / "home";
  REQUIRE(RunLineage(home, {"init"}).exit_code == 0);
  pid_t daemon = test::SpawnCommand(test::LineageArgv(home, {"daemon"}));
  for (int i = 0; i < 100 && !fs::exists(home / "daemon.sock"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto refused = RunLineage(home, {"run", "start", (dir / "run.toml").string(), "--foreground"});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a daemon would have taken a stored run up
  const std::string runs = RunLineage(home, {"run", "list", "--json"}).out;
  kill(daemon, SIGTERM);
  int status = 0;
  waitpid(daemon, &status, 0);
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("hand it the run instead") && Catch::Contains("nothing was stored"));
  CHECK(json::parse(runs).empty());
  CHECK(fake->requests().empty());
}

TEST_CASE("a run handed to a daemon started before the user exported a key or a suite's path says the daemon lacks it") {
  auto fake = test::StartFakeModel();
  TempDir dir;
  const fs::path home = dir / "home";
  pid_t daemon = test::SpawnCommand(test::LineageArgv(home, {"daemon"}));
  for (int i = 0; i < 100 && !fs::exists(home / "daemon.sock"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // The user exports both after the daemon started: their shell has them, the daemon does not.
  const std::map<std::string, std::string> shell = {{"LINEAGE_TEST_LATE_KEY", "k"}, {"LINEAGE_TEST_LATE_SUITE", dir.path().string()}};
  std::string toml = test::RunToml(fake->url(), 1, 1);
  toml.replace(toml.find("model = \"gpt-4.1-mini\"\n"), 23, "model = \"gpt-4.1-mini\"\napi_key_env = \"LINEAGE_TEST_LATE_KEY\"\n");
  WriteFile(dir / "key.toml", toml);
  auto key = RunLineage(home, {"run", "start", (dir / "key.toml").string()}, shell);
  WriteFile(dir / "suite.toml", test::RunToml(fake->url(), 1, 1) + "[suites.late]\nkind = \"polyglot\"\npath = \"$LINEAGE_TEST_LATE_SUITE\"\n");
  auto suite = RunLineage(home, {"run", "start", (dir / "suite.toml").string()}, shell);
  const std::string runs = RunLineage(home, {"run", "list", "--json"}).out;
  kill(daemon, SIGTERM);
  int status = 0;
  waitpid(daemon, &status, 0);
  const std::string who = "the daemon (pid " + std::to_string(daemon) + ")";
  INFO(key.err << suite.err);
  CHECK(key.exit_code == 1);
  CHECK_THAT(key.err, Catch::Contains(who + " lacks the environment variable LINEAGE_TEST_LATE_KEY") &&
                          Catch::Contains("restart " + who + " with LINEAGE_TEST_LATE_KEY exported"));
  CHECK(suite.exit_code == 1);
  CHECK_THAT(suite.err, Catch::Contains(who + " lacks the environment variable LINEAGE_TEST_LATE_SUITE") &&
                            Catch::Contains("restart " + who + " with LINEAGE_TEST_LATE_SUITE exported"));
  CHECK(json::parse(runs).empty());
}

TEST_CASE("a base_url nobody listens on pauses a run at once as a configuration error, and resume --models fixes it") {
  auto fake = test::StartFakeModel();
  TempDir dir;
  const fs::path home = dir / "home";
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 1, 1));
  // A port that was free a moment ago: nothing listens on it.
  const int probe = test::ListenLoopback();
  REQUIRE(probe >= 0);
  const std::string dead = "http://127.0.0.1:" + std::to_string(test::LocalPort(probe)) + "/v1";
  close(probe);
  WriteFile(dir / "wrong.toml", "[models.default]\nprovider = \"openai\"\nbase_url = \"" + dead + "\"\nmodel = \"gpt-4.1-mini\"\n");
  WriteFile(dir / "right.toml", "[models.default]\nprovider = \"openai\"\nbase_url = \"" + fake->url() + "/v1\"\nmodel = \"gpt-4.1-mini\"\n");

  auto validate = RunLineage(home, {"run", "validate", (dir / "run.toml").string(), "--models", (dir / "wrong.toml").string()});
  CHECK(validate.exit_code == 0);
  CHECK_THAT(validate.out, Catch::Contains("models: not contacted") && Catch::Contains("--probe"));

  const auto began = std::chrono::steady_clock::now();
  auto start = RunLineage(home, {"run", "start", (dir / "run.toml").string(), "--foreground", "--models", (dir / "wrong.toml").string()});
  INFO(start.out << start.err);
  // Not the 10-minute patience of an outage.
  CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds(60));
  CHECK_THAT(start.out, Catch::Contains("run 1: paused: config:") && Catch::Contains(dead));
  auto status = RunLineage(home, {"run", "status", "1"});
  CHECK_THAT(status.out, Catch::Contains("run 1 (test run): paused") && Catch::Contains("why: config:") &&
                             Catch::Contains("--models FILE"));
  CHECK(json::parse(RunLineage(home, {"run", "status", "1", "--json"}).out)["reason"].get<std::string>().find(dead) !=
        std::string::npos);
  CHECK(fake->requests().empty());

  auto resumed = RunLineage(home, {"run", "resume", "1", "--foreground", "--models", (dir / "right.toml").string()});
  INFO(resumed.out << resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK_THAT(resumed.out, Catch::Contains("run 1: models from") && Catch::Contains("run 1: finished"));
  CHECK_FALSE(fake->requests().empty());
}

TEST_CASE("Ctrl-C in a foreground run is acknowledged, a second stops at once, and the hint it prints works") {
  auto fake = test::StartFakeModel(/*delay_ms=*/2000);  // slow answers: work is in flight when Ctrl-C comes
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 2, 1));
  const int err_fd = open((dir / "err.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(err_fd >= 0);
  pid_t pid = test::SpawnCommand(test::LineageArgv(dir / "home", {"run", "start", (dir / "run.toml").string(), "--foreground"}),
                                 {}, -1, err_fd);
  close(err_fd);
  for (int i = 0; i < 600 && fake->requests().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE_FALSE(fake->requests().empty());
  kill(pid, SIGINT);
  for (int i = 0; i < 100 && test::ReadFileOrDie(dir / "err.txt").find("stopping:") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto second = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string err = test::ReadFileOrDie(dir / "err.txt");
  INFO(err);
  CHECK_THAT(err, Catch::Contains("stopping: waiting for the work in flight") && Catch::Contains("stopped at once"));
  CHECK(std::chrono::steady_clock::now() - second < std::chrono::seconds(5));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_THAT(err, Catch::Contains("`lineage run resume 1 --foreground` goes on"));
  CHECK_THAT(RunLineage(dir / "home", {"run", "list"}).out, Catch::Contains("interrupted"));
  // The hint works without a daemon: the run goes on to its end.
  auto resumed = RunLineage(dir / "home", {"run", "resume", "1", "--foreground"});
  INFO(resumed.out << resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK_THAT(resumed.out, Catch::Contains("run 1: finished"));
  CHECK(RunLineage(dir / "home", {"fsck"}).exit_code == 0);
}

TEST_CASE("a run with two children in flight replays exactly") {
  TempDir dir;
  RecordRun(dir, 6, 2);
  auto replayed = RunLineage(dir / "home", {"run", "replay", "1", "--to", (dir / "replay").string()});
  INFO(replayed.out << replayed.err);
  REQUIRE(replayed.exit_code == 0);
  CHECK_THAT(replayed.out, Catch::Contains("the same tree: 7 agents"));
  CHECK(RunLineage(dir / "replay", {"tree"}).out == RunLineage(dir / "home", {"tree"}).out);
}

// Every task evaluation recorded in the home: "agent task" -> its log's blob, which a rerun would replace.
std::map<std::string, std::string> RecordedEvaluations(const fs::path& home) {
  std::map<std::string, std::string> out;
  const json tree = json::parse(RunLineage(home, {"tree", "--json"}).out);
  for (const json& agent : tree["agents"]) {
    const std::string id = std::to_string(agent["id"].get<int>());
    const json shown = json::parse(RunLineage(home, {"show", id, "--json"}).out);
    for (const json& e : shown["evaluations"]) {
      if (e["outcome"] != "faulted" && e["outcome"] != "out_of_budget") out[id + " " + e["task"].get<std::string>()] = e["log_blob"];
    }
  }
  return out;
}

TEST_CASE("an hgm run killed with -9 midway resumes without running any recorded task evaluation again") {
  auto fake = test::StartFakeModel(/*delay_ms=*/300);  // slow answers: the kill lands between evaluations
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 4, 1, "task_evaluations = 9\n") + "[selection]\nstrategy = \"hgm\"\n");
  pid_t pid = test::SpawnCommand(test::LineageArgv(dir / "home", {"run", "start", (dir / "run.toml").string(), "--foreground"}));
  std::map<std::string, std::string> before;
  for (int i = 0; i < 600 && before.size() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (fs::exists(dir / "home" / "archive.db")) before = RecordedEvaluations(dir / "home");
  }
  REQUIRE(before.size() >= 4);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  before = RecordedEvaluations(dir / "home");  // what was recorded when it died
  REQUIRE(before.size() < 9);  // else the kill came too late to prove anything
  auto resumed = RunLineage(dir / "home", {"run", "resume", "1", "--foreground"});
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  const std::map<std::string, std::string> after = RecordedEvaluations(dir / "home");
  for (const auto& [key, blob] : before) {
    INFO(key);
    CHECK(after.at(key) == blob);  // recorded once, never run again
  }
  // Within the budget; a child rejected for lost editing is evaluated no further, so fewer may be spent.
  CHECK(after.size() > before.size());
  CHECK(after.size() <= 9);
  int of_children = 0;
  for (const auto& [key, blob] : after) of_children += key.rfind("1 ", 0) != 0;
  CHECK(of_children > 0);  // both decisions: children were made, and evaluated
  CHECK(json::parse(RunLineage(dir / "home", {"run", "status", "1", "--json"}).out)["status"] == "finished");
  CHECK(RunLineage(dir / "home", {"fsck"}).exit_code == 0);
}

// Waits until `done` is true of run 1's status, polling the CLI.
bool WaitForRun(const fs::path& home, const std::function<bool(const json&)>& done, int seconds = 120) {
  for (int i = 0; i < seconds * 10; ++i) {
    auto r = RunLineage(home, {"run", "status", "1", "--json"});
    if (r.exit_code == 0 && done(json::parse(r.out))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST_CASE("the daemon runs a handed-over run, resumes it after kill -9, and stops cleanly on SIGTERM") {
  auto fake = test::StartFakeModel(/*delay_ms=*/100);
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 4, 2));
  const fs::path home = dir / "home";
  auto no_daemon = RunLineage(home, {"run", "start", (dir / "run.toml").string()});
  CHECK(no_daemon.exit_code == 1);
  CHECK_THAT(no_daemon.err, Catch::Contains("lineage daemon"));

  pid_t daemon = test::SpawnCommand(test::LineageArgv(home, {"daemon"}));
  for (int i = 0; i < 100 && !fs::exists(home / "daemon.sock"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto second = RunLineage(home, {"daemon"});
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, Catch::Contains("is in use by a daemon (pid " + std::to_string(daemon) + ")"));

  auto start = RunLineage(home, {"run", "start", (dir / "run.toml").string()});
  INFO(start.err);
  REQUIRE(start.exit_code == 0);
  CHECK_THAT(start.out, Catch::Contains("run 1: queued"));
  REQUIRE(WaitForRun(home, [](const json& s) { return s["children"].get<int>() >= 1; }));
  kill(daemon, SIGKILL);
  int status = 0;
  waitpid(daemon, &status, 0);

  int log_fd = open((dir / "daemon.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  daemon = test::SpawnCommand(test::LineageArgv(home, {"daemon"}), {}, -1, log_fd);
  close(log_fd);
  const bool finished = WaitForRun(home, [](const json& s) { return s["status"] == "finished"; });
  INFO(test::ReadFileOrDie(dir / "daemon.log"));
  REQUIRE(finished);
  Observed s = State(home);
  CHECK(s.children == 4);
  CHECK(s.fsck_clean);

  kill(daemon, SIGTERM);
  waitpid(daemon, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(fs::exists(home / "daemon.sock"));
}

TEST_CASE("a run no process runs any more shows as interrupted, and pause or stop without a daemon complete at once") {
  auto fake = test::StartFakeModel();
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 4, 1));
  const fs::path home = dir / "home";
  // A run started in the foreground and killed once it runs, so that it is left "running".
  auto start_and_kill = [&](int id) {
    pid_t pid = test::SpawnCommand(test::LineageArgv(home, {"run", "start", (dir / "run.toml").string(), "--foreground"}));
    auto running = [&] {
      auto r = RunLineage(home, {"run", "status", std::to_string(id), "--json"});
      return r.exit_code == 0 && json::parse(r.out)["status"] == "running";
    };
    for (int i = 0; i < 400 && !running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return running();
  };
  REQUIRE(start_and_kill(1));
  auto list = RunLineage(home, {"run", "list"});
  CHECK_THAT(list.out, Catch::Contains("interrupted") && Catch::Contains("`lineage run resume RUN --foreground`"));
  CHECK(json::parse(RunLineage(home, {"run", "list", "--json"}).out)[0]["interrupted"] == true);
  CHECK_THAT(RunLineage(home, {"run", "status", "1"}).out, Catch::Contains("interrupted: no process runs it"));
  auto stop = RunLineage(home, {"run", "stop", "1"});
  INFO(stop.out << stop.err);
  CHECK(stop.exit_code == 0);
  CHECK_THAT(stop.out, Catch::Contains("run 1: stopped"));
  CHECK(json::parse(RunLineage(home, {"run", "status", "1", "--json"}).out)["status"] == "stopped");
  auto resume = RunLineage(home, {"run", "resume", "1"});
  CHECK(resume.exit_code == 1);
  CHECK_THAT(resume.err, Catch::Contains("it cannot resume"));

  REQUIRE(start_and_kill(2));
  auto pause = RunLineage(home, {"run", "pause", "2"});
  CHECK_THAT(pause.out, Catch::Contains("run 2: paused"));
  CHECK(json::parse(RunLineage(home, {"run", "status", "2", "--json"}).out)["status"] == "paused");
  CHECK_THAT(RunLineage(home, {"run", "resume", "2"}).out, Catch::Contains("run 2: queued"));
  auto missing = RunLineage(home, {"run", "status", "9"});
  CHECK(missing.exit_code == 1);
}

TEST_CASE("a run paused by a provider outage longer than its patience is resumed by the daemon, and finishes") {
  // From the first child's diagnosis (request 3) on, the provider fails for 4 s. The run's patience is 1 s,
  // and the daemon tries again 2 s after the pause.
  json script = json::parse(test::ScriptJson());
  script["outages"] = json::array({{{"after", 3}, {"seconds", 4}, {"fault", "server_error"}}});
  auto fake = llm::FakeModelServer::Start(script.dump(), "outage script");
  REQUIRE(fake.ok());
  TempDir dir;
  std::string toml = test::RunToml((*fake)->url(), 2, 1) + "[faults]\npatience_s = 1\nretry_s = 2\n";
  toml.replace(toml.find("model = \"gpt-4.1-mini\"\n"), 23, "model = \"gpt-4.1-mini\"\nmax_retries = 0\n");
  WriteFile(dir / "run.toml", toml);
  const fs::path home = dir / "home";
  int log_fd = open((dir / "daemon.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t daemon = test::SpawnCommand(test::LineageArgv(home, {"daemon"}), {}, -1, log_fd);
  close(log_fd);
  for (int i = 0; i < 100 && !fs::exists(home / "daemon.sock"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto start = RunLineage(home, {"run", "start", (dir / "run.toml").string()});
  REQUIRE(start.exit_code == 0);
  const bool finished = WaitForRun(home, [](const json& s) { return s["status"] == "finished"; });
  INFO(test::ReadFileOrDie(dir / "daemon.log"));
  REQUIRE(finished);
  auto logs = RunLineage(home, {"run", "logs", "1"});
  CHECK_THAT(logs.out, Catch::Contains("fault.absorbed") && Catch::Contains("run.paused") &&
                           Catch::Contains("\"fault\":true") && Catch::Contains("run.finished"));
  Observed s = State(home);
  CHECK(s.children == 2);
  CHECK(s.fsck_clean);
  kill(daemon, SIGTERM);
  int status = 0;
  waitpid(daemon, &status, 0);
}

TEST_CASE("while a foreground run goes on, neither a daemon nor a second foreground process takes the home") {
  auto fake = test::StartFakeModel(/*delay_ms=*/150);
  TempDir dir;
  WriteFile(dir / "run.toml", test::RunToml(fake->url(), 2, 1));
  const fs::path home = dir / "home";
  pid_t pid = test::SpawnCommand(test::LineageArgv(home, {"run", "start", (dir / "run.toml").string(), "--foreground"}));
  REQUIRE(WaitForRun(home, [](const json& s) { return s["status"] == "running"; }, 60));
  auto daemon = RunLineage(home, {"daemon"});
  CHECK(daemon.exit_code == 1);
  CHECK_THAT(daemon.err, Catch::Contains("is in use by run 1 in the foreground (pid " + std::to_string(pid) + ")"));
  auto second = RunLineage(home, {"run", "resume", "1", "--foreground"});
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, Catch::Contains("is in use by run 1 in the foreground"));
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  auto fsck = RunLineage(home, {"fsck"});
  CHECK(fsck.exit_code == 0);
}

// A connection to the daemon's control socket.
int ConnectControl(const fs::path& home) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = (home / "daemon.sock").string();
  std::copy(path.begin(), path.end(), addr.sun_path);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

TEST_CASE("the daemon answers a ping at once while silent clients hold connections to its control socket") {
  TempDir dir;
  const fs::path home = dir / "home";
  pid_t daemon = test::SpawnCommand(test::LineageArgv(home, {"daemon"}));
  for (int i = 0; i < 100 && !fs::exists(home / "daemon.sock"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<int> silent;
  for (int i = 0; i < 4; ++i) silent.push_back(ConnectControl(home));  // each would hold the daemon 5 s
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  int fd = ConnectControl(home);
  const std::string ping = "{\"op\": \"ping\"}\n";
  REQUIRE(write(fd, ping.data(), ping.size()) == static_cast<ssize_t>(ping.size()));
  pollfd p{fd, POLLIN, 0};
  REQUIRE(poll(&p, 1, 10'000) == 1);
  char buf[512] = {0};
  REQUIRE(read(fd, buf, sizeof buf - 1) > 0);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(json::parse(std::string(buf))["ok"] == true);
  CHECK(waited < std::chrono::milliseconds(4000));  // before the first silent client's 5 s deadline
  close(fd);
  // A request with a field of the wrong type is an error for that client, not for the daemon.
  fd = ConnectControl(home);
  const std::string odd = "{\"op\": 1}\n";
  REQUIRE(write(fd, odd.data(), odd.size()) == static_cast<ssize_t>(odd.size()));
  std::fill(std::begin(buf), std::end(buf), 0);
  p.fd = fd;
  REQUIRE(poll(&p, 1, 10'000) == 1);
  REQUIRE(read(fd, buf, sizeof buf - 1) > 0);
  CHECK(json::parse(std::string(buf))["ok"] == false);
  close(fd);
  CHECK(kill(daemon, 0) == 0);  // still serving
  for (int s : silent) close(s);
  kill(daemon, SIGTERM);
  int status = 0;
  waitpid(daemon, &status, 0);
  CHECK(WIFEXITED(status));
}

}  // namespace
}  // namespace lineage
