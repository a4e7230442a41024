// The evolution loop's fast tier: the real archive, gateway and loop over a scripted sandbox (nothing runs)
// and a fake model, so each rejection reason, budget, pause, stop and resume is a test of milliseconds.
// The same loop over the real sandbox is tests/orchestrator/evolution_test.cc.
#include <catch2/catch.hpp>

#include "archive/archive.h"
#include "orchestrator/orchestrator.h"
#include "tests/orchestrator/scripted_sandbox.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Kind = test::ScriptedSandbox::Kind;

// A fast world in a temporary directory: the suite, the seed, an archive and one run of its configuration.
struct World {
  test::TempDir dir;
  std::unique_ptr<llm::FakeModelServer> model;
  test::ScriptedSandbox sandbox;
  std::unique_ptr<Archive> archive;
  RunId run = 0;
  std::int64_t now = 1'000'000;  // the clock the loop reads, in milliseconds
  std::vector<std::string> progress;

  World(const std::vector<std::string>& modes, int children, const std::string& budget = "",
        const std::string& extra = "") {
    model = test::FastModel(modes);
    test::WriteFastWorld(dir.path());
    test::WriteFile(dir / "run.toml", test::FastRunToml(dir.path(), model->url(), children, budget, extra));
    auto config = LoadRunConfig(dir / "run.toml");
    INFO(config.status().ToString());
    REQUIRE(config.ok());
    auto opened = Archive::Init(dir / "home");
    REQUIRE(opened.ok());
    archive = std::move(opened).value();
    auto created = CreateRun(*archive, *config);
    REQUIRE(created.ok());
    run = *created;
  }

  Result<RunState> Evolve(const std::atomic<bool>* stop = nullptr) {
    EvolutionOptions options;
    options.home = dir / "home";
    options.sandbox = &sandbox;
    options.stop = stop;
    options.clock = [this] { return now; };
    options.on_progress = [this](const std::string& line) { progress.push_back(line); };
    return RunEvolution(*archive, run, options);
  }

  std::vector<Agent> Children() {
    auto agents = archive->ListAgents(run);
    REQUIRE(agents.ok());
    std::vector<Agent> children;
    for (const Agent& a : *agents) {
      if (a.parent_id) children.push_back(a);
    }
    return children;
  }

  std::vector<std::string> EventKinds() {
    auto events = archive->ListEvents(run);
    REQUIRE(events.ok());
    std::vector<std::string> kinds;
    for (const Event& e : *events) kinds.push_back(e.kind);
    return kinds;
  }

  // The data of the last event of `kind`.
  json LastEvent(const std::string& kind) {
    auto events = archive->ListEvents(run);
    REQUIRE(events.ok());
    json data;
    for (const Event& e : *events) {
      if (e.kind == kind) data = json::parse(e.data_json);
    }
    return data;
  }

  int Count(const std::string& kind) {
    auto kinds = EventKinds();
    return static_cast<int>(std::count(kinds.begin(), kinds.end(), kind));
  }

  RunState State() { return archive->GetRun(run)->state; }
};

TEST_CASE("fast: each change a self-modification can leave ends its child in its own state and reason") {
  World w({"good", "empty", "break", "noop", "fifo"}, 5);
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
  World w({"text:I think the agent is fine.", "good"}, 1);
  REQUIRE(w.Evolve().ok());
  REQUIRE(w.Children().size() == 1);
  CHECK(w.Children()[0].state == AgentState::kAdmitted);
  CHECK(w.Count("child.failed") == 0);
  CHECK(w.model->requests().size() == 2);
}

TEST_CASE("fast: a model that keeps failing is the world's fault: attempts are redone, then the run fails saying why") {
  World w({"fault"}, 2);
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
  // Calls are admitted on their worst case (max_tokens): about $0.007 each at gpt-4.1-mini prices, while a
  // diagnosis here costs a few hundredths of that. So calls go on until the spend nears $0.003, and the
  // gateway then refuses the next one rather than risk passing $0.01.
  World w({"good"}, 50, "cost_usd = 0.01\n");
  auto ended = w.Evolve();
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  CHECK(w.Children().size() > 1);
  CHECK(w.Children().size() < 50);
  CHECK(w.archive->RunSpend(w.run)->cost_usd <= 0.01);
  CHECK_THAT(w.LastEvent("run.finished")["reason"].get<std::string>(), Catch::StartsWith("budget"));
}

TEST_CASE("fast: a run stops starting children at its token budget") {
  World w({"good"}, 50, "tokens = 20000\n");
  REQUIRE(w.Evolve().ok());
  CHECK(w.Children().size() < 50);
  CHECK(w.archive->RunSpend(w.run)->tokens <= 20000);
  CHECK_THAT(w.LastEvent("run.finished")["reason"].get<std::string>(), Catch::StartsWith("budget"));
}

TEST_CASE("fast: a run stops starting children when its wall time is spent, by the loop's clock") {
  World w({"good"}, 50, "wall_s = 60\n");
  // Each self-modification takes 25 s by the clock: the third child is the last to start.
  w.sandbox.on_run = [&](Kind kind, int) {
    if (kind == Kind::kSelfModify) w.now += 25'000;
  };
  REQUIRE(w.Evolve().ok());
  CHECK(w.Children().size() == 3);
  CHECK(w.LastEvent("run.finished")["reason"] == "budget: wall time");
}

TEST_CASE("fast: pause lets the child in flight finish, and resume goes on to the children wanted") {
  World w({"good", "empty"}, 4);
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
  World w({"good"}, 4);
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
  World w({"good"}, 3);
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
  World w({"good"}, 3);
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
  World w({"good"}, 2, "", "[sandbox]\nmin_free = \"100000000G\"\n");
  auto ended = w.Evolve();
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kPaused);
  CHECK_THAT(w.LastEvent("run.paused")["reason"].get<std::string>(), Catch::Contains("under [sandbox] min_free"));
  CHECK(w.sandbox.count(Kind::kBuild) == 0);  // nothing was started
}

TEST_CASE("fast: a seed that does not build fails the run, naming the build's failure") {
  World w({"good"}, 1);
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
  World w({"good"}, 1);
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
  World w({"empty", "dotgit", "good"}, 3);
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
  World w({"good"}, 1);
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

}  // namespace
}  // namespace lineage
