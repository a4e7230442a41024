// The evolution loop end to end: real archive, real sandbox, real gateway, the fake model server, and a
// scripted agent whose self-modifications are admitted or rejected for each reason.
#include <catch2/catch.hpp>

#include "archive/archive.h"
#include "orchestrator/evolution.h"
#include "orchestrator/runs.h"
#include "tests/orchestrator/evolution_test_support.h"
#include "tests/support/swebench_fixture.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Outcome {
  RunId run = 0;
  RunState state = RunState::kQueued;
  std::vector<Agent> children;
  Agent seed;
};

// A run of `toml` in dir/home, created and run to its end in this process.
struct Started {
  std::unique_ptr<Archive> archive;
  RunId run = 0;
  Result<RunState> status = Status::Internal("not run");
};

Started StartAndRun(test::TempDir& dir, const std::string& toml) {
  test::WriteFile(dir / "run.toml", toml);
  auto config = LoadRunConfig(dir / "run.toml");
  INFO(config.status().ToString());
  REQUIRE(config.ok());
  REQUIRE(CheckRunConfig(*config).ok());
  auto archive = Archive::Init(dir / "home");
  REQUIRE(archive.ok());
  auto run = CreateRun(**archive, *config);
  REQUIRE(run.ok());
  auto sandbox = Sandbox::Create(Sandbox::Backend::kBwrap);
  REQUIRE(sandbox.ok());
  EvolutionOptions options;
  options.home = dir / "home";
  options.sandbox = sandbox->get();
  Started started{std::move(archive).value(), *run};
  started.status = RunEvolution(*started.archive, *run, options);
  return started;
}

Outcome Evolve(test::TempDir& dir, const std::string& toml) {
  Started started = StartAndRun(dir, toml);
  auto& archive = started.archive;
  auto* run = &started.run;
  auto& status = started.status;
  INFO(status.status().ToString());
  REQUIRE(status.ok());
  Outcome out;
  out.state = *status;
  out.run = *run;
  auto agents = archive->ListAgents(*run);
  REQUIRE(agents.ok());
  for (const Agent& a : *agents) {
    if (a.parent_id) out.children.push_back(a);
    else out.seed = a;
  }
  auto issues = archive->Fsck(false);
  REQUIRE(issues.ok());
  CHECK(issues->empty());
  return out;
}

std::map<std::string, int> Reasons(const std::vector<Agent>& children) {
  std::map<std::string, int> reasons;
  for (const Agent& c : children) {
    std::string key = StateName(c.state);
    if (c.reason.rfind("empty change", 0) == 0) key += ": empty change";
    if (c.reason.rfind("build failed", 0) == 0) key += ": build failed";
    if (c.reason.rfind("lost its editing ability", 0) == 0) key += ": lost editing";
    ++reasons[key];
  }
  return reasons;
}

TEST_CASE("an evolution admits and rejects children for each reason and records everything") {
  auto fake = test::StartFakeModel();
  test::TempDir dir;
  Outcome out = Evolve(dir, test::RunToml(fake->url(), 4, 1));
  CHECK(out.state == RunState::kFinished);
  CHECK(out.seed.state == AgentState::kAdmitted);
  REQUIRE(out.seed.score.has_value());
  CHECK(*out.seed.score == 1.0);
  CHECK(out.seed.stage_reached == 2);
  REQUIRE(out.children.size() == 4);
  CHECK(Reasons(out.children) == std::map<std::string, int>{{"admitted", 1},
                                                            {"rejected: build failed", 1},
                                                            {"rejected: empty change", 1},
                                                            {"rejected: lost editing", 1}});
  auto archive = Archive::Open(dir / "home");
  REQUIRE(archive.ok());
  for (const Agent& child : out.children) {
    INFO("agent " << child.id << " " << StateName(child.state) << " " << child.reason);
    auto full = (*archive)->GetAgent(child.id);
    REQUIRE(full.ok());
    json diagnosis = json::parse(full->diagnosis_json);
    CHECK(diagnosis.contains("improvement_proposal"));
    CHECK_THAT(full->problem_statement, Catch::Contains("MODE: "));
    if (child.state == AgentState::kAdmitted) {
      REQUIRE(full->score.has_value());
      CHECK(*full->score == 1.0);
      CHECK(full->files_changed == 1);
    }
  }
  // Every model call is in the archive, for what it served.
  std::map<std::string, int> purposes;
  auto agents = (*archive)->ListAgents();
  REQUIRE(agents.ok());
  for (const Agent& a : *agents) {
    auto calls = (*archive)->ListModelCalls(a.id);
    REQUIRE(calls.ok());
    for (const ModelCall& c : *calls) ++purposes[c.purpose];
  }
  CHECK(purposes["self_modify"] == 4);
  CHECK(purposes["evaluate"] >= 3);
  auto events = (*archive)->ListEvents(out.run);
  REQUIRE(events.ok());
  int diagnoses = 0;
  for (const Event& e : *events) diagnoses += e.kind == "diagnosis";
  CHECK(diagnoses == 4);

  // Each agent's events retrace its path through the state machine: one event per move, each from the state
  // the previous one reached, ending at the state stored.
  std::map<AgentId, std::string> reached = {{out.seed.id, "committed"}};  // imported before the run existed
  for (const Event& e : *events) {
    if (!e.agent_id || e.kind.rfind("agent.", 0) != 0) continue;
    const json data = json::parse(e.data_json);
    const std::string to = e.kind.substr(6);
    const std::string from = reached.count(*e.agent_id) ? reached[*e.agent_id] : "pending";
    INFO("agent " << *e.agent_id << ": " << e.kind << " " << e.data_json);
    CHECK(data["from"] == from);
    REQUIRE(ParseAgentState(to).has_value());
    CHECK(MayFollow(*ParseAgentState(from), *ParseAgentState(to)));
    reached[*e.agent_id] = to;
  }
  for (const Agent& child : out.children) CHECK(reached[child.id] == StateName(child.state));
  CHECK(reached[out.seed.id] == "admitted");
}

// SWE-bench instances (tests/support/swebench_fixture.h) in their environment: the scripted agent fixes
// acme__calc-1 and gives up on acme__calc-2, so every agent that can still edit scores 0.5.
TEST_CASE("an evolution on SWE-bench instances admits and rejects children as on the starter suite") {
  setenv("LINEAGE_ENVIRONMENTS_DIR", (test::EnvironmentTestHome() / "cache" / "environments").c_str(), 1);
  test::TempDir dir;
  test::MakeSweBenchSuite(dir / "suite");
  std::string fixed = test::kCalcBase;
  fixed.replace(fixed.find("a - b"), 5, "a + b");
  auto fake = test::StartFakeModel(0, {{"add\\(\\) subtracts", test::WriteAnswer({{"calc/ops.py", fixed}})},
                                       {"mul\\(\\) adds", "I cannot see how to fix this."}});
  const std::string toml =
      "name = \"swe-bench run\"\nseed_agent = \"" + test::kScriptedAgent.string() + "\"\nrandom_seed = 7\n"
      "[models.default]\nprovider = \"openai\"\nbase_url = \"" + fake->url() + "/v1\"\nmodel = \"gpt-4.1-mini\"\n"
      "[budget]\nchildren = 4\n[concurrency]\nchildren = 1\nsandboxes = 2\n"
      "[agent]\nself_modify_wall_s = 60\ntask_wall_s = 120\n"
      "[suites.calc]\nkind = \"swebench\"\npath = \"" + (dir / "suite").string() + "\"\n"
      "[[stages]]\nsuite = \"calc\"\n";
  Outcome out = Evolve(dir, toml);
  CHECK(out.state == RunState::kFinished);
  CHECK(out.seed.state == AgentState::kAdmitted);
  REQUIRE(out.seed.score.has_value());
  CHECK(*out.seed.score == 0.5);
  REQUIRE(out.children.size() == 4);
  CHECK(Reasons(out.children) == std::map<std::string, int>{{"admitted", 1},
                                                            {"rejected: build failed", 1},
                                                            {"rejected: empty change", 1},
                                                            {"rejected: lost editing", 1}});
  for (const Agent& child : out.children) {
    if (child.state == AgentState::kAdmitted) CHECK(child.score == 0.5);
  }
}

TEST_CASE("children made two at a time end the same way") {
  auto fake = test::StartFakeModel();
  test::TempDir dir;
  Outcome out = Evolve(dir, test::RunToml(fake->url(), 4, 2));
  CHECK(out.state == RunState::kFinished);
  REQUIRE(out.children.size() == 4);
  CHECK(Reasons(out.children).size() == 4);
}

TEST_CASE("a run stops cleanly at its dollar budget") {
  auto fake = test::StartFakeModel();
  test::TempDir dir;
  // Calls are admitted on their worst case (max_tokens): about $0.007 each at gpt-4.1-mini prices. What they
  // cost is less, the more so as the fake server, like OpenAI, reads repeated prompt prefixes from a cache.
  Outcome out = Evolve(dir, test::RunToml(fake->url(), 50, 1, "cost_usd = 0.012\n"));
  CHECK(out.state == RunState::kFinished);
  CHECK(out.children.size() < 50);
  auto archive = Archive::Open(dir / "home");
  REQUIRE(archive.ok());
  auto spent = (*archive)->RunSpend(out.run);
  REQUIRE(spent.ok());
  CHECK(spent->cost_usd <= 0.012);
  auto events = (*archive)->ListEvents(out.run);
  REQUIRE(events.ok());
  std::string ended;
  for (const Event& e : *events) {
    if (e.kind == "run.finished") ended = e.data_json;
  }
  CHECK_THAT(ended, Catch::Contains("budget"));
}

}  // namespace
}  // namespace lineage

namespace lineage {
namespace {

TEST_CASE("the run's sandbox limits apply to every sandbox it starts") {
  auto fake = test::StartFakeModel();
  test::TempDir dir;
  // 4 MiB is too little for Python: the seed's build (a Python syntax check) cannot even start.
  Started started = StartAndRun(dir, test::RunToml(fake->url(), 1, 1) + "[sandbox]\nmemory = \"4M\"\n");
  auto& status = started.status;
  auto config = LoadRunConfig(dir / "run.toml");
  REQUIRE(config.ok());
  CHECK(config->sandbox_memory_bytes == 4ull << 20);
  REQUIRE_FALSE(status.ok());
  CHECK_THAT(status.status().message(), Catch::Contains("the seed agent does not build"));
  CHECK(started.archive->GetRun(started.run)->state == RunState::kFailed);
}

TEST_CASE("a run whose home's file system runs low pauses with the reason instead of failing writes") {
  auto fake = test::StartFakeModel();
  test::TempDir dir;
  // No file system has this much free: the run finds its home too full before it writes anything.
  Started started = StartAndRun(dir, test::RunToml(fake->url(), 2, 1) + "[sandbox]\nmin_free = \"100000000G\"\n");
  REQUIRE(started.status.ok());
  CHECK(*started.status == RunState::kPaused);
  CHECK(started.archive->GetRun(started.run)->state == RunState::kPaused);
  auto events = started.archive->ListEvents(started.run);
  REQUIRE(events.ok());
  std::string ended;
  for (const Event& e : *events) {
    if (e.kind == "run.paused") ended = e.data_json;
  }
  CHECK_THAT(ended, Catch::Contains("under [sandbox] min_free"));
  CHECK(started.archive->ListAgents(started.run)->size() == 1);  // the seed, not evaluated
  CHECK(started.archive->ListEvaluations(*started.archive->GetRun(started.run)->seed_agent_id)->empty());
}

TEST_CASE("a hostile seed finds only descriptors 0, 1 and 2 in every sandbox of a run") {
  // It looks for the run's gateway listener, the diagnosis client's connections, host directories.
  auto fake = test::StartFakeModel();
  test::TempDir dir;
  std::string toml = test::RunToml(fake->url(), 1, 1);
  toml.replace(toml.find(test::kScriptedAgent.string()), test::kScriptedAgent.string().size(),
               (test::kSourceDir / "tests" / "orchestrator" / "data" / "hostile_agent").string());
  Started started = StartAndRun(dir, toml);
  INFO(started.status.status().ToString());
  REQUIRE(started.status.ok());
  auto events = started.archive->ListEvents(started.run);
  REQUIRE(events.ok());
  int self_modifications = 0;
  for (const Event& e : *events) {
    if (e.kind != "self_modify") continue;
    ++self_modifications;
    CHECK(json::parse(e.data_json)["summary"] == "fds: 0 1 2");
  }
  CHECK(self_modifications == 1);
  const AgentId seed = *started.archive->GetRun(started.run)->seed_agent_id;
  auto evaluations = started.archive->ListEvaluations(seed);
  REQUIRE(evaluations.ok());
  REQUIRE(evaluations->size() == 2);
  for (const Evaluation& e : *evaluations) {
    auto log = started.archive->GetBlob(e.log_blob);
    REQUIRE(log.ok());
    CHECK(json::parse(*log)["agent"]["summary"] == "fds: 0 1 2");
  }
}

}  // namespace
}  // namespace lineage
