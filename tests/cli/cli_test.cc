// Drives the real `lineage` binary: exit codes, messages and every archive command.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::RunLineage;
using test::TempDir;
using test::WriteFile;

struct Cli {
  TempDir tmp;
  fs::path home = tmp / "home";
  Cli() { REQUIRE(RunLineage(home, {"init"}).exit_code == 0); }
  test::CommandResult operator()(const std::vector<std::string>& args) { return RunLineage(home, args); }
  fs::path MakeAgentDir(const std::string& name) {
    WriteFile(tmp / name / "main.py", "print('hello')\n");
    WriteFile(tmp / name / "run.sh", "#!/bin/sh\npython3 main.py\n", true);
    return tmp / name;
  }
};

TEST_CASE("every command has --help") {
  TempDir tmp;
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {}, {"init"}, {"version"}, {"agent"}, {"agent", "import"}, {"agent", "add"}, {"agent", "checkout"},
           {"tree"}, {"show"}, {"diff"}, {"export"}, {"fsck"}}) {
    cmd.push_back("--help");
    auto r = RunLineage(tmp / "home", cmd);
    INFO(cmd[0]);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Usage:") != std::string::npos);
  }
}

TEST_CASE("version prints the version and storage libraries") {
  TempDir tmp;
  auto r = RunLineage(tmp / "home", {"version"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("lineage ", 0) == 0);
  CHECK(r.out.find("libgit2") != std::string::npos);
}

TEST_CASE("bad input exits 1 with one line naming the value") {
  Cli cli;
  SECTION("an unknown command") {
    auto r = cli({"frobnicate"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.rfind("lineage: unknown command 'frobnicate'; commands are: version, init, agent", 0) == 0);
  }
  SECTION("an id that is not a number") {
    auto r = cli({"show", "abc"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("abc") != std::string::npos);
  }
  SECTION("an agent that does not exist") {
    auto r = cli({"show", "12"});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "lineage: agent 12 does not exist\n");
  }
  SECTION("an export format that does not exist") {
    auto r = cli({"export", "--format", "xml"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("xml") != std::string::npos);
  }
  SECTION("a log level that does not exist") {
    auto r = cli({"--log-level", "loud", "tree"});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "lineage: --log-level 'loud' is not one of trace, debug, info, warn, error, critical, off\n");
  }
  SECTION("a directory that does not exist") {
    auto r = cli({"agent", "import", (cli.tmp / "nope").string(), "--name", "x"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("nope") != std::string::npos);
  }
  SECTION("a directory given as a run configuration") {
    auto r = cli({"run", "validate", cli.tmp.path().string()});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "lineage: '" + cli.tmp.path().string() + "' is a directory; a file was expected\n");
  }
  SECTION("a home that is a file") {
    WriteFile(cli.tmp / "file", "");
    auto r = RunLineage(cli.tmp / "file", {"init"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains((cli.tmp / "file").string()));
  }
  SECTION("a dashboard address already in use") {
    const int busy = test::ListenLoopback();
    REQUIRE(busy >= 0);
    auto r = cli({"daemon", "--http", "127.0.0.1:" + std::to_string(test::LocalPort(busy))});
    close(busy);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("the address is in use; choose another port"));
  }
}

TEST_CASE("commands need a home, and say how to make one") {
  TempDir tmp;
  auto r = RunLineage(tmp / "missing", {"tree"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("run `lineage init`") != std::string::npos);
}

TEST_CASE("LINEAGE_HOME selects the home when --home is absent") {
  TempDir tmp;
  auto r = test::RunCommand({LINEAGE_BIN, "init"}, {{"LINEAGE_HOME", (tmp / "envhome").string()}});
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(tmp / "envhome/archive.db"));
}

TEST_CASE("a damaged archive is an internal error: exit 2") {
  Cli cli;
  WriteFile(cli.home / "archive.db", std::string(8192, 'Z'));
  auto r = cli({"tree"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("lineage: ", 0) == 0);
}

TEST_CASE("import, add, tree, show, diff, checkout and export work together") {
  Cli cli;
  fs::path seed = cli.MakeAgentDir("seed");
  auto imported = cli({"agent", "import", seed.string(), "--name", "seed"});
  REQUIRE(imported.exit_code == 0);
  CHECK(imported.out.rfind("imported agent #1 'seed'", 0) == 0);

  WriteFile(seed / "main.py", "print('hello, world')\n");
  auto added = cli({"agent", "add", "--parent", "1", seed.string(), "--name", "greeter", "--json"});
  REQUIRE(added.exit_code == 0);
  auto child = nlohmann::json::parse(added.out);
  CHECK(child["id"] == 2);
  CHECK(child["parent"] == 1);
  CHECK(child["lines_added"] == 1);

  auto unchanged = cli({"agent", "add", "--parent", "2", seed.string()});
  CHECK(unchanged.exit_code == 1);
  CHECK(unchanged.err == "lineage: the tree is identical to agent 2's; a child must change something\n");

  auto tree = cli({"tree"});
  CHECK(tree.exit_code == 0);
  CHECK(tree.out == "#1 seed  score -  committed\n└─ #2 greeter  score -  committed  +1 -1\n");
  auto tree_json = nlohmann::json::parse(cli({"tree", "--json"}).out);
  CHECK(tree_json["agents"][0]["children"] == nlohmann::json({2}));

  auto show = cli({"show", "2"});
  CHECK(show.exit_code == 0);
  CHECK(show.out.find("parent       #1") != std::string::npos);
  auto show_json = nlohmann::json::parse(cli({"show", "2", "--json"}).out);
  CHECK(show_json["commit"].get<std::string>().size() == 40);
  CHECK(show_json["evaluations"].empty());

  auto diff = cli({"diff", "2"});
  CHECK(diff.exit_code == 0);
  CHECK(diff.out.find("-print('hello')\n+print('hello, world')") != std::string::npos);
  CHECK(diff.err == "1 file changed, 1 insertion(+), 1 deletion(-)\n");
  auto reverse = cli({"diff", "2", "1", "--stat"});
  CHECK(reverse.out == "1 file changed, 1 insertion(+), 1 deletion(-)\n");

  auto checkout = cli({"agent", "checkout", "2", (cli.tmp / "out").string()});
  CHECK(checkout.exit_code == 0);
  CHECK(test::ReadFileOrDie(cli.tmp / "out/main.py") == "print('hello, world')\n");
  CHECK((fs::status(cli.tmp / "out/run.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);

  auto csv = cli({"export", "--format", "csv", "--out", (cli.tmp / "a.csv").string()});
  CHECK(csv.exit_code == 0);
  std::string csv_text = test::ReadFileOrDie(cli.tmp / "a.csv");
  CHECK(std::count(csv_text.begin(), csv_text.end(), '\n') == 3);
  auto json = nlohmann::json::parse(cli({"export", "--format", "json"}).out);
  CHECK(json["agents"].size() == 2);
  CHECK(cli({"export", "--format", "dot"}).out.find("a1 -> a2;") != std::string::npos);

  auto fsck = cli({"fsck"});
  CHECK(fsck.exit_code == 0);
  CHECK(fsck.out == "archive is consistent\n");
}

TEST_CASE("show prints why a rejected agent never ran: its failed build's log") {
  Cli cli;
  {
    auto archive = Archive::Open(cli.home);
    REQUIRE(archive.ok());
    auto seed = (*archive)->ImportAgent(cli.MakeAgentDir("seed"), "seed");
    REQUIRE(seed.ok());
    WriteFile(cli.tmp / "seed" / "main.py", "print('hello'\n");
    auto child = (*archive)->AddChild(seed->id, cli.tmp / "seed", {});
    REQUIRE(child.ok());
    // As the loop records it (orchestrator/evolution.cc): the whole log as a blob its agent.rejected event names.
    auto log = (*archive)->PutBlob("build failed: exit status 1\n\n$ make\nmain.py:1: SyntaxError: '(' was never closed\n");
    REQUIRE(log.ok());
    REQUIRE((*archive)->SetAgentState(child->id, AgentState::kRejected, "build failed: exit status 1",
                                      nlohmann::json{{"build_log_blob", *log}}.dump()).ok());
  }
  auto show = cli({"show", "2"});
  INFO(show.out << show.err);
  CHECK(show.exit_code == 0);
  CHECK(show.out.find("  build log    4 lines\n") != std::string::npos);
  CHECK(show.out.find("main.py:1: SyntaxError: '(' was never closed\n") != std::string::npos);
  auto json = nlohmann::json::parse(cli({"show", "2", "--json"}).out);
  CHECK_THAT(json["build_log"].get<std::string>(), Catch::Contains("SyntaxError"));
  CHECK(nlohmann::json::parse(cli({"show", "1", "--json"}).out)["build_log"].is_null());
  CHECK(cli({"show", "1"}).out.find("build log") == std::string::npos);
}

TEST_CASE("show counts faulted runs apart from failures, and labels held-out results as the final") {
  Cli cli;
  {
    auto archive = Archive::Open(cli.home);
    REQUIRE(archive.ok());
    auto seed = (*archive)->ImportAgent(cli.MakeAgentDir("seed"), "seed");
    REQUIRE(seed.ok());
    auto record = [&](const std::string& suite, const std::string& task, int stage, const std::string& outcome) {
      Evaluation e;
      e.agent_id = seed->id;
      e.suite = suite;
      e.task_id = task;
      e.stage = stage;
      e.outcome = *ParseOutcome(outcome);
      REQUIRE((*archive)->RecordEvaluation(e).ok());
    };
    record("starter", "a", 1, "solved");
    record("starter", "b", 1, "failed");
    record("starter", "c", 1, "faulted");  // the provider was down: says nothing of the agent
    record("final:starter", "d", 0, "solved");  // `lineage run final`: held out
    REQUIRE((*archive)->RecordStageScore(seed->id, {.stage = 1, .attempted = 2, .solved = 1, .score = 0.5}).ok());
  }
  auto show = cli({"show", "1"});
  INFO(show.out);
  CHECK(show.out.find("  evaluations  3 tasks: 1 solved, 1 failed; not counted: 1 faulted\n") != std::string::npos);
  CHECK(show.out.find("  final        final:starter (held out, not in the score): 1 task: 1 solved\n") != std::string::npos);
  auto json = nlohmann::json::parse(cli({"show", "1", "--json"}).out);
  REQUIRE(json["evaluations"].size() == 4);
  for (const auto& e : json["evaluations"]) CHECK(e["held_out"] == (e["suite"] == "final:starter"));
}

TEST_CASE("a log file records debug logs") {
  Cli cli;
  fs::path log = cli.tmp / "lineage.log";
  auto r = cli({"--log-level", "debug", "--log-file", log.string(), "show", "5"});
  CHECK(r.exit_code == 1);
  CHECK(test::ReadFileOrDie(log).find("agent 5 does not exist") != std::string::npos);
}

}  // namespace
}  // namespace lineage
