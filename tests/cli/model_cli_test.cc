// `lineage models check` and `lineage gateway serve`, run as a user runs them, against the fake model server.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "archive/archive.h"
#include "llm/fake_server.h"
#include "llm/llm.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

using json = nlohmann::json;
using test::RunLineage;
using test::TempDir;
using test::WriteFile;

constexpr const char* kKey = "sk-live-VERYSECRET-0123456789";

std::unique_ptr<llm::FakeModelServer> Fake(const std::string& script) {
  auto fake = llm::FakeModelServer::Start(script, "test script");
  REQUIRE(fake.ok());
  return std::move(fake).value();
}

std::string ModelsToml(const std::string& fake_url, const std::string& key_env = "LINEAGE_CLI_TEST_KEY") {
  return "[models.default]\nprovider = \"openai\"\nbase_url = \"" + fake_url + "/v1\"\nmodel = \"gpt-4.1-mini\"\n" +
         "api_key_env = \"" + key_env + "\"\nretry_initial_s = 0.01\n\n" +
         "[models.expert]\nprovider = \"anthropic\"\nbase_url = \"" + fake_url + "\"\nmodel = \"claude-haiku-4-5\"\n" +
         "api_key_env = \"" + key_env + "\"\nretry_initial_s = 0.01\n";
}

TEST_CASE("models check reports each model's latency and cost") {
  TempDir dir;
  auto fake = Fake(R"({"responses": [{"text": "ok"}], "when_exhausted": "repeat_last"})");
  WriteFile(dir / "models.toml", ModelsToml(fake->url()));
  auto r = RunLineage(dir / "home", {"models", "check", "--config", (dir / "models.toml").string()},
                      {{"LINEAGE_CLI_TEST_KEY", kKey}});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(std::regex_search(r.out, std::regex("default +openai +gpt-4.1-mini +ok +[0-9]+ ms  \\$0\\.0")));
  CHECK(std::regex_search(r.out, std::regex("expert +anthropic +claude-haiku-4-5 +ok")));

  auto as_json = RunLineage(dir / "home", {"models", "check", "--config", (dir / "models.toml").string(), "--json"},
                            {{"LINEAGE_CLI_TEST_KEY", kKey}});
  json report = json::parse(as_json.out);
  CHECK(report[1]["alias"] == "expert");
  CHECK(report[1]["ok"] == true);
}

TEST_CASE("models check says exactly what is wrong") {
  TempDir dir;
  auto refusing = Fake(R"({"responses": [{"fault": "auth"}], "when_exhausted": "repeat_last"})");
  WriteFile(dir / "models.toml", ModelsToml(refusing->url()));
  auto refused = RunLineage(dir / "home", {"models", "check", "--config", (dir / "models.toml").string()},
                            {{"LINEAGE_CLI_TEST_KEY", kKey}});
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.find("FAILED  auth: the provider refused the API key") != std::string::npos);
  CHECK(refused.out.find(kKey) == std::string::npos);
  CHECK(refused.err.find("2 of 2 models did not answer") != std::string::npos);

  auto missing = RunLineage(dir / "home", {"models", "check", "--config", (dir / "models.toml").string()});
  CHECK(missing.exit_code == 1);
  CHECK(missing.out.find("environment variable LINEAGE_CLI_TEST_KEY (api_key_env of [models.default]) is not set") !=
        std::string::npos);

  WriteFile(dir / "closed.toml", ModelsToml("http://127.0.0.1:9"));
  auto unreachable = RunLineage(dir / "home", {"models", "check", "--config", (dir / "closed.toml").string()},
                                {{"LINEAGE_CLI_TEST_KEY", kKey}});
  CHECK(unreachable.out.find("FAILED  unreachable: cannot connect to http://127.0.0.1:9/v1/chat/completions") !=
        std::string::npos);

  WriteFile(dir / "bad.toml", "[models.default]\nprovider = \"openai\"\nmodel = \"m\"\nurl = \"http://x\"\n");
  auto bad = RunLineage(dir / "home", {"models", "check", "--config", (dir / "bad.toml").string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("bad.toml: [models.default] url: is not a known key") != std::string::npos);
  auto absent = RunLineage(dir / "home", {"models", "check", "--config", (dir / "nope.toml").string()});
  CHECK(absent.exit_code == 1);
  CHECK(absent.err.find("nope.toml") != std::string::npos);
}

// Waits until `file` holds a line matching `pattern`; returns the first group.
std::string WaitForLine(const std::filesystem::path& file, const std::string& pattern) {
  std::regex re(pattern);
  for (int i = 0; i < 200; ++i) {
    std::smatch m;
    std::string text = std::filesystem::exists(file) ? test::ReadFileOrDie(file) : "";
    if (std::regex_search(text, m, re)) return m[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("no line matching " << pattern << " in " << file);
  return "";
}

TEST_CASE("gateway serve answers agents and records every call but never the key") {
  TempDir dir;
  const auto home = dir / "home";
  REQUIRE(RunLineage(home, {"init"}).exit_code == 0);
  WriteFile(dir / "agent" / "README", "an agent\n");
  REQUIRE(RunLineage(home, {"agent", "import", (dir / "agent").string(), "--name", "seed"}).exit_code == 0);

  auto fake = Fake(R"({"responses": [{"text": "hello agent", "usage": {"input": 40, "output": 4}}, {"fault": "auth"}]})");
  WriteFile(dir / "models.toml", ModelsToml(fake->url()));
  int out = open((dir / "serve.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = open((dir / "serve.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = test::SpawnCommand(
      test::LineageArgv(home, {"--log-level", "trace", "--log-file", (dir / "lineage.log").string(), "gateway",
                               "serve", "--config", (dir / "models.toml").string(), "--listen", "127.0.0.1:0",
                               "--agent", "1", "--purpose", "debugging"}),
      {{"LINEAGE_CLI_TEST_KEY", kKey}}, out, err);
  close(out);
  close(err);
  const std::string url = WaitForLine(dir / "serve.out", "listening on (http://[0-9.:]+)");
  const std::string token = WaitForLine(dir / "serve.out", "token (lgw-[0-9a-f]+)");

  ::setenv("LINEAGE_CLI_TEST_TOKEN", token.c_str(), 1);
  llm::ModelConfig agent_model;
  agent_model.alias = "default";
  agent_model.provider = llm::Provider::kAnthropic;
  agent_model.base_url = url;
  agent_model.model = "default";
  agent_model.api_key_env = "LINEAGE_CLI_TEST_TOKEN";
  agent_model.max_retries = 0;
  llm::ModelClient agent(llm::ModelsConfig{"test", {agent_model}});
  llm::ChatRequest hello;
  hello.messages.push_back(llm::Message::User("hi"));
  llm::CallResult ok = agent.Call("default", hello);
  INFO(ok.error.message);
  REQUIRE(ok.ok());
  CHECK(ok.response->Text() == "hello agent");
  llm::CallResult refused = agent.Call("default", hello);  // upstream refuses the key and echoes it
  CHECK(refused.error.kind == llm::ErrorKind::kAuth);
  CHECK(refused.error.message.find(kKey) == std::string::npos);

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(test::ReadFileOrDie(dir / "serve.err").find("stopped after 2 calls, 44 tokens") != std::string::npos);

  auto archive = Archive::Open(home);
  REQUIRE(archive.ok());
  auto calls = (*archive)->ListModelCalls(1);
  REQUIRE(calls.ok());
  REQUIRE(calls->size() == 2);
  const ModelCall& first = (*calls)[0];
  CHECK(first.purpose == "debugging");
  CHECK(first.provider == "openai");
  CHECK(first.model == "gpt-4.1-mini");
  CHECK(first.input_tokens == 40);
  CHECK(first.outcome == "ok");
  CHECK(first.cost_usd > 0);
  CHECK((*calls)[1].outcome == "auth");
  CHECK((*calls)[1].error.find("[redacted]") != std::string::npos);
  CHECK((*archive)->GetAgent(1)->tokens_in == 40);

  // The key appears in no archive row, no stored blob and no log line.
  std::string everything = test::ReadFileOrDie(home / "archive.db") + test::ReadFileOrDie(dir / "lineage.log") +
                           test::ReadFileOrDie(dir / "serve.out") + test::ReadFileOrDie(dir / "serve.err");
  if (std::filesystem::exists(home / "archive.db-wal")) everything += test::ReadFileOrDie(home / "archive.db-wal");
  for (const ModelCall& call : *calls) {
    everything += (*archive)->GetBlob(call.request_blob).value() + (*archive)->GetBlob(call.response_blob).value();
  }
  CHECK(everything.find("hello agent") != std::string::npos);  // the search does see the stored text
  CHECK(everything.find(kKey) == std::string::npos);
  CHECK(everything.find("VERYSECRET") == std::string::npos);
}

TEST_CASE("gateway serve refuses to start without a listener or with an unknown agent") {
  TempDir dir;
  WriteFile(dir / "models.toml", ModelsToml("http://127.0.0.1:9"));
  auto none = RunLineage(dir / "home", {"gateway", "serve", "--config", (dir / "models.toml").string()});
  CHECK(none.exit_code == 1);
  CHECK(none.err.find("give --socket PATH, --listen HOST:PORT, or both") != std::string::npos);
  REQUIRE(RunLineage(dir / "home", {"init"}).exit_code == 0);
  auto unknown = RunLineage(dir / "home", {"gateway", "serve", "--config", (dir / "models.toml").string(), "--listen",
                                           "127.0.0.1:0", "--agent", "99"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("99") != std::string::npos);
  auto bad_listen = RunLineage(dir / "home", {"gateway", "serve", "--config", (dir / "models.toml").string(),
                                              "--listen", "localhost"});
  CHECK(bad_listen.exit_code == 1);
  CHECK(bad_listen.err.find("'localhost' must be HOST:PORT") != std::string::npos);
}

}  // namespace
}  // namespace lineage
