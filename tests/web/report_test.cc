// The static report in headless Chromium (Debian's `chromium`): a recorded run's report opens offline,
// shows every agent as a node of the tree and the best score, and a node's link opens that agent's page.
// Screenshots are kept in build/<preset>/tests/artifacts/.
#include <catch2/catch.hpp>
#include <regex>
#include <set>

#include "tests/orchestrator/evolution_test_support.h"
#include "web/web.h"
#include "tests/web/web_test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::RunLineage;
using test::TempDir;

using test::NodeIds;
using test::RenderedDom;
using test::Screenshot;
using test::kArtifacts;

TEST_CASE("data embedded in the report cannot end its script, open a comment or break a line") {
  const nlohmann::json data = {{"text", "a </script><script>alert(1)</script> <!-- b & c > d \u2028 e \u2029 f"}};
  const std::string safe = web::ScriptSafeJson(data);
  for (const char* bad : {"<", ">", "&", "\u2028", "\u2029"}) CHECK(safe.find(bad) == std::string::npos);
  CHECK(nlohmann::json::parse(safe) == data);  // the same data, spelled safely
}

TEST_CASE("the static report of a recorded run renders its tree, best score and agent pages offline") {
  REQUIRE(fs::exists("/usr/bin/chromium"));  // scripts/setup.sh installs Debian's chromium
  auto fake = test::StartFakeModel();
  TempDir dir;
  test::WriteFile(dir / "run.toml", test::RunToml(fake->url(), 4, 1));
  auto run = RunLineage(dir / "home", {"run", "start", (dir / "run.toml").string(), "--foreground"});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  fake.reset();  // the report needs no server at all
  auto report = RunLineage(dir / "home", {"report", "1", "--out", (dir / "report.html").string()});
  INFO(report.err);
  REQUIRE(report.exit_code == 0);
  const std::string html = test::ReadFileOrDie(dir / "report.html");
  CHECK(html.find("http://") == std::string::npos);  // nothing to fetch from anywhere
  CHECK(html.find("https://") == std::string::npos);

  const std::string url = "file://" + (dir / "report.html").string();
  const std::string dom = RenderedDom(url);
  CHECK(NodeIds(dom) == std::set<std::string>{"1", "2", "3", "4", "5"});  // the seed and its 4 children
  // The best agent by the lower end of its 95% interval: the seed and the admitted child both solved 3 of
  // 3, and the older wins the tie.
  CHECK(dom.find(R"(<b id="best-score">1.000 <small>[0.439, 1.000]</small></b> <a href="#/agent/1">#1</a>)") != std::string::npos);
  CHECK(std::regex_search(dom, std::regex(R"re(class="node admitted best" data-id="1")re")));
  Screenshot(url, kArtifacts / "report-run.png");

  // Follow the tree's link to the admitted child's page.
  static const std::regex kAdmittedChild(R"re(<a href="(#/agent/(\d+))" class="node admitted" data-id)re");
  std::smatch link;
  REQUIRE(std::regex_search(dom, link, kAdmittedChild));
  const std::string agent_dom = RenderedDom(url + link[1].str());
  CHECK(agent_dom.find("id=\"agent-title\">Agent #" + link[2].str()) != std::string::npos);
  CHECK(agent_dom.find("<th>improvement_proposal</th><td>make the change called good</td>") != std::string::npos);
  CHECK(agent_dom.find("+Read the tests before editing.") != std::string::npos);  // its diff
  CHECK(agent_dom.find("py/fizzbuzz") != std::string::npos);                     // its evaluations
  CHECK(std::regex_search(agent_dom, std::regex(R"re(<table id="calls">.*<td>evaluate</td>)re")));  // its model calls
  Screenshot(url + link[1].str(), kArtifacts / "report-agent.png");

  // The child whose build failed (the scripted model breaks one) shows the loop's own build log.
  std::string broken;
  for (const std::string id : {"2", "3", "4", "5"}) {
    const auto shown = nlohmann::json::parse(RunLineage(dir / "home", {"show", id, "--json"}).out);
    if (shown["reason"].get<std::string>().rfind("build failed", 0) == 0) broken = id;
  }
  REQUIRE_FALSE(broken.empty());
  CHECK_THAT(RunLineage(dir / "home", {"show", broken}).out, Catch::Contains("  build log    "));
  const std::string broken_dom = RenderedDom(url + "#/agent/" + broken);
  CHECK(broken_dom.find(R"(<pre id="build-log">)") != std::string::npos);
}

TEST_CASE("an agent's page in the report shows its failed build's log, its held-out results, and the run it seeded") {
  if (!test::HaveChromium()) return;
  TempDir dir;
  REQUIRE(test::MakeRun(dir / "home", 3) == 1);
  {
    auto archive = Archive::Open(dir / "home");
    REQUIRE(archive.ok());
    Archive& a = **archive;
    auto child = a.AddChild(1, {{"agent.txt", TreeEntry::Kind::kFile, "does not build\n"}}, {.run = 1});
    REQUIRE(child.ok());
    auto log = a.PutBlob("build failed: exit status 2\n\n$ make\nmain.cc:3:1: error: expected ';' before '}' token\n");
    REQUIRE(log.ok());
    REQUIRE(a.SetAgentState(child->id, AgentState::kRejected, "build failed: exit status 2",
                            nlohmann::json{{"build_log_blob", *log}}.dump()).ok());
    Evaluation held_out;
    held_out.agent_id = 1;
    held_out.suite = "final:starter";
    held_out.task_id = "py/fizzbuzz";
    held_out.stage = 0;
    held_out.outcome = Outcome::kSolved;
    REQUIRE(a.RecordEvaluation(held_out).ok());
    REQUIRE(child->id == 5);
  }
  auto report = RunLineage(dir / "home", {"report", "1", "--out", (dir / "report.html").string()});
  INFO(report.err);
  REQUIRE(report.exit_code == 0);
  const std::string url = "file://" + (dir / "report.html").string();

  const std::string rejected = test::RenderedDom(url + "#/agent/5");
  CHECK(rejected.find(R"(<pre id="build-log">build failed: exit status 2)") != std::string::npos);
  CHECK(rejected.find("main.cc:3:1: error: expected ';' before '}' token") != std::string::npos);
  test::Screenshot(url + "#/agent/5", test::kArtifacts / "report-build-log.png");

  const std::string seed = test::RenderedDom(url + "#/agent/1");
  CHECK(seed.find(R"(<span id="seed-of">seed of <a href="#/run/1">run #1</a></span>)") != std::string::npos);
  std::smatch final;
  REQUIRE(std::regex_search(seed, final, std::regex(R"(<table id="final-evaluations">[\s\S]*?</table>)")));
  CHECK(final[0].str().find("<td>final:starter</td>") != std::string::npos);
  CHECK(final[0].str().find("py/fizzbuzz") != std::string::npos);
  std::smatch own;
  REQUIRE(std::regex_search(seed, own, std::regex(R"(<table id="evaluations">[\s\S]*?</table>)")));
  CHECK(own[0].str().find("py/fizzbuzz") == std::string::npos);  // not among its own results
}

}  // namespace
}  // namespace lineage
