#include "archive/export.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace lineage {
namespace {

Agent MakeAgent(AgentId id, std::optional<AgentId> parent, std::optional<double> score, const char* state) {
  Agent a;
  a.id = id;
  a.parent_id = parent;
  a.score = score;
  if (score) a.stages = {StageScore{1, 10, static_cast<int>(*score * 10 + 0.5), score}};  // of 10 tasks
  a.state = *ParseAgentState(state);
  return a;
}

// 1 ─┬─ 2 ── 4 ── 5
//    └─ 3
std::vector<Agent> SampleTree() {
  std::vector<Agent> agents = {MakeAgent(1, std::nullopt, 0.4, "admitted"), MakeAgent(2, 1, 0.6, "admitted"),
                               MakeAgent(3, 1, std::nullopt, "rejected"), MakeAgent(4, 2, 0.7, "admitted"),
                               MakeAgent(5, 4, std::nullopt, "committed")};
  agents[0].name = "seed";
  agents[0].children = {2, 3};
  agents[1].children = {4};
  agents[3].children = {5};
  agents[2].reason = "build failed";
  return agents;
}

TEST_CASE("the terminal tree hangs every child from a connector, an only child too") {
  CHECK(RenderTreeText(SampleTree(), -1, false) ==
        "#1 seed  score 0.400 [0.168, 0.687]  admitted\n"
        "├─ #2  score 0.600 [0.313, 0.832]  admitted  +0 -0\n"
        "│  └─ #4  score 0.700 [0.397, 0.892]  admitted  +0 -0\n"
        "│     └─ #5  score -  committed  +0 -0\n"
        "└─ #3  score -  rejected: build failed  +0 -0\n");
}

TEST_CASE("a chain reads as one lineage, not as separate roots") {
  std::vector<Agent> chain = {MakeAgent(1, std::nullopt, 0.5, "admitted"), MakeAgent(2, 1, 0.5, "admitted"),
                              MakeAgent(3, 2, 0.5, "admitted")};
  chain[0].children = {2};
  chain[1].children = {3};
  const std::string text = RenderTreeText(chain, -1, false);
  CHECK(text.find("\n└─ #2 ") != std::string::npos);
  CHECK(text.find("\n   └─ #3 ") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '#') == 3);
  CHECK(text.find("\n#") == std::string::npos);  // one root line only
}

TEST_CASE("a depth limit cuts the tree and says what is below") {
  CHECK(RenderTreeText(SampleTree(), 1, false) ==
        "#1 seed  score 0.400 [0.168, 0.687]  admitted\n"
        "├─ #2  score 0.600 [0.313, 0.832]  admitted  +0 -0  (1 child below)\n"
        "└─ #3  score -  rejected: build failed  +0 -0\n");
  auto json = nlohmann::json::parse(RenderTreeJson(SampleTree(), 0));
  CHECK(json["agents"].size() == 1);
  CHECK(json["agents"][0]["children"] == nlohmann::json({2, 3}));
}

TEST_CASE("tree --json is flat, with parents, depths and children") {
  auto json = nlohmann::json::parse(RenderTreeJson(SampleTree(), -1));
  CHECK(json["roots"] == nlohmann::json({1}));
  REQUIRE(json["agents"].size() == 5);
  auto five = json["agents"][3];
  CHECK(five["id"] == 5);
  CHECK(five["parent"] == 4);
  CHECK(five["depth"] == 3);
  CHECK(five["score"].is_null());
  CHECK(json["agents"][0]["score"] == 0.4);
  CHECK(json["agents"][0]["score_interval"][0].get<double>() == Approx(0.168).margin(1e-3));
  CHECK(json["agents"][0]["score_interval"][1].get<double>() == Approx(0.687).margin(1e-3));
  CHECK(five["score_interval"].is_null());
}

TEST_CASE("a 100,000-deep chain renders without recursion") {
  std::vector<Agent> chain;
  for (AgentId id = 1; id <= 100000; ++id) {
    chain.push_back(MakeAgent(id, id == 1 ? std::nullopt : std::optional<AgentId>(id - 1), 0.5, "admitted"));
    if (id < 100000) chain.back().children = {id + 1};
  }
  auto json = nlohmann::json::parse(RenderTreeJson(chain, -1));
  CHECK(json["agents"].size() == 100000);
  CHECK(json["agents"][99999]["depth"] == 99999);
  std::string text = RenderTreeText(chain, -1, false);
  CHECK(std::count(text.begin(), text.end(), '\n') == 100000);
  CHECK(text.size() < 100000 * 150);  // the indent stops growing: linear, not quadratic, in the depth
}

TEST_CASE("CSV quotes fields that need it") {
  auto agents = SampleTree();
  agents[2].reason = "tests failed, \"badly\"";
  std::string csv = ExportCsv(agents);
  CHECK(csv.rfind("id,run,parent,name,commit,", 0) == 0);
  CHECK(csv.find(",\"tests failed, \"\"badly\"\"\",") != std::string::npos);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 6);
}

TEST_CASE("dot has one node per agent and one edge per parent link") {
  std::string dot = ExportDot(SampleTree());
  CHECK(dot.find("digraph lineage {") == 0);
  CHECK(dot.find("a1 -> a2;") != std::string::npos);
  CHECK(dot.find("a4 -> a5;") != std::string::npos);
  CHECK(dot.find("label=\"#1 seed\\nscore 0.400 [0.168, 0.687]\\nadmitted\"") != std::string::npos);
  CHECK(dot.find("style=\"filled,dashed\"") != std::string::npos);  // the rejected one
}

TEST_CASE("the JSON export holds runs and every agent field") {
  Run run;
  run.id = 1;
  run.name = "r";
  run.state = RunState::kQueued;
  run.seed_agent_id = 1;
  auto json = nlohmann::json::parse(ExportJson({run}, SampleTree()));
  CHECK(json["runs"][0]["seed_agent"] == 1);
  CHECK(json["agents"][2]["reason"] == "build failed");
  CHECK(json["agents"][0].contains("diagnosis"));
  CHECK(json["agents"][0].contains("stages"));
}

}  // namespace
}  // namespace lineage
