// The README's quickstart as a user runs it, with the real seed conductor, recorded and replayed offline. A
// binary of its own: the seed and a child are built twice over, which takes minutes on a loaded machine.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "llm/fake_server.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::RunLineage;
using test::TempDir;
using test::WriteFile;

TEST_CASE("the README's quickstart replays to the same tree, from a relative --to, with the seed conductor") {
  // The real seed agent's trajectory carries clock times; the diagnosis prompt must not, or the replayed
  // request differs at the first diagnosis. The quickstart's configuration and scripted model, one child
  // (for time), started and replayed from the configuration's directory with relative paths, as a user
  // types them.
  TempDir dir;
  const fs::path source = LINEAGE_SOURCE_DIR;
  auto fake = llm::FakeModelServer::StartFromFile(source / "examples" / "quickstart-script.json");
  REQUIRE(fake.ok());
  std::string config = test::ReadFileOrDie(source / "examples" / "quickstart.toml");
  config.replace(config.find("../agents/conductor"), std::string("../agents/conductor").size(),
                 (source / "agents" / "conductor").string());
  config.replace(config.find("children = 3"), std::string("children = 3").size(), "children = 1");
  config.replace(config.find("\"models-openai.toml\""), std::string("\"models-openai.toml\"").size(), "\"models.toml\"");
  WriteFile(dir / "quickstart.toml", config);
  fs::create_directories(dir / "elsewhere");
  WriteFile(dir / "models.toml", "[models.default]\nprovider = \"openai\"\nbase_url = \"" + (*fake)->url() +
                                     "/v1\"\nmodel = \"gpt-4.1-mini\"\n");
  const std::string lineage = test::LineageArgv(dir / "home", {})[0];
  auto started = test::RunCommand({"/bin/sh", "-c", "cd '" + dir.path().string() + "' && '" + lineage +
                                                        "' --home home run start quickstart.toml --foreground"});
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  (*fake)->Stop();
  // From another directory: the run's models file is found where its configuration was.
  auto replayed = test::RunCommand({"/bin/sh", "-c", "cd '" + (dir / "elsewhere").string() + "' && '" + lineage +
                                                         "' --home ../home run replay 1 --to ../replay"});
  INFO(replayed.out << replayed.err);
  CHECK(replayed.exit_code == 0);
  CHECK_THAT(replayed.out, Catch::Contains("the same tree: 2 agents"));
  CHECK(RunLineage(dir / "replay", {"tree"}).out == RunLineage(dir / "home", {"tree"}).out);
  // The diagnosis prompts carry no clock time: the same request, not one that differs only in what varies.
  CHECK_THAT(replayed.out, !Catch::Contains("purpose diagnose"));

  // A final on the replay's home would call the providers live: refused, nothing recorded.
  auto final = RunLineage(dir / "replay", {"run", "final", "1", "--suite", "starter", "--tasks", "py/fizzbuzz"});
  INFO(final.out << final.err);
  CHECK(final.exit_code != 0);
  CHECK_THAT(final.err, Catch::Contains("is a replay of run 1") && Catch::Contains("live"));
  auto archive = Archive::Open(dir / "replay");
  REQUIRE(archive.ok());
  auto calls = (*archive)->ListRunModelCalls(1);
  REQUIRE(calls.ok());
  for (const ModelCall& c : *calls) CHECK(c.outcome == "replayed");
}

}  // namespace
}  // namespace lineage
