// What the orchestrator says to the diagnosis model: filled templates, the agent's source, a task's log, and
// how the answer is read back. Pure functions: no model, no archive.
#include "orchestrator/prompts.h"

#include <stdlib.h>

#include <catch2/catch.hpp>

#include "tests/support/test_support.h"

namespace lineage {
namespace {

using json = nlohmann::json;

TEST_CASE("Fill replaces each placeholder once, never inside a value, and leaves unknown ones") {
  CHECK(Fill("a {{x}} b {{y}}", {{"x", "1"}, {"y", "2"}}) == "a 1 b 2");
  // An agent's source may hold a placeholder: it is not filled again.
  CHECK(Fill("{{agent_source}} / {{problem}}", {{"agent_source", "{{problem}}"}, {"problem", "P"}}) == "{{problem}} / P");
  CHECK(Fill("{{unknown}} and {{x", {{"x", "1"}}) == "{{unknown}} and {{x");
}

TEST_CASE("the source listing shows small text files first, skips binaries and names what did not fit") {
  std::vector<TreeEntry> tree = {
      {"big.txt", TreeEntry::Kind::kFile, std::string(kMaxSourceBytes, 'b')},
      {"small.py", TreeEntry::Kind::kFile, "print(1)"},
      {"blob.bin", TreeEntry::Kind::kFile, std::string("\0\1", 2)},
      {"link", TreeEntry::Kind::kSymlink, "small.py"},
  };
  const std::string listing = SourceListing(tree);
  CHECK(listing.find("## small.py\n```\nprint(1)\n```") == 0);
  CHECK(listing.find("blob.bin") == std::string::npos);
  CHECK(listing.find("## link") == std::string::npos);
  CHECK_THAT(listing, Catch::EndsWith("(not shown, for length: big.txt)\n"));
  CHECK(listing.size() <= kMaxSourceBytes + 100);
}

TEST_CASE("a task's log puts the patch and the tests first, and carries nothing volatile") {
  Evaluation e;
  e.suite = "starter";
  e.task_id = "py/fizzbuzz";
  e.outcome = Outcome::kFailed;
  CHECK(TaskLog(e, std::nullopt) == "task py/fizzbuzz (suite starter), outcome failed\n");
  const json log = {{"detail", "1 of 3 tests failed"},
                    {"agent", {{"status", "finished"}, {"rounds", 4}, {"summary", "done"}}},
                    {"patch", "--- a/x.py\n+++ b/x.py\n"},
                    {"tests", {{"output", "AssertionError in /tmp/lineage-sandbox-123-abc/test.py"}}},
                    {"trajectory", json::array({{{"at_ms", 1733300000000}, {"tool", "bash"}}})}};
  const std::string text = TaskLog(e, log.dump());
  CHECK(text.find("detail: 1 of 3 tests failed") != std::string::npos);
  CHECK(text.find("the agent ended finished after 4 rounds: done") != std::string::npos);
  CHECK(text.find("The agent's patch:\n--- a/x.py") < text.find("The test output:"));
  CHECK(text.find("at_ms") == std::string::npos);
  CHECK(text.find("1733300000000") == std::string::npos);
  CHECK(text.find("lineage-sandbox-123") == std::string::npos);  // a temporary path differs on every run
  CHECK(text.find("\"tool\":\"bash\"") != std::string::npos);
  // A log that is not JSON is quoted, clipped.
  CHECK(TaskLog(e, std::string(3 * kMaxLogBytes, 'x')).size() < kMaxLogBytes + 200);
}

TEST_CASE("the diagnosis prompt ends its stable part, the source, in a cache breakpoint") {
  Prompts prompts{"Source:\n{{agent_source}}\nProblem:\n{{problem}}\n", "{{problem_statement}}"};
  const llm::Message m = DiagnosisPrompt(prompts, "SRC", "PROBLEM");
  REQUIRE(m.content.size() == 2);
  CHECK(m.content[0].text == "Source:\nSRC\nProblem:\n");
  CHECK(m.content[0].cache);
  CHECK(m.content[1].text == "PROBLEM\n");
  CHECK_FALSE(m.content[1].cache);
  // A template with the problem first has no stable prefix: one block, no breakpoint.
  const llm::Message one = DiagnosisPrompt(Prompts{"{{problem}} then {{agent_source}}", ""}, "SRC", "P");
  REQUIRE(one.content.size() == 1);
  CHECK(one.content[0].text == "P then SRC");
}

TEST_CASE("a diagnosis is the first JSON object with every DGM field as a string, else says what is wrong") {
  json d;
  for (const char* field : kDiagnosisFields) d[field] = std::string("about ") + field;
  auto ok = ParseDiagnosis("Here it is:\n```json\n" + d.dump() + "\n```\n");
  REQUIRE(ok.ok());
  CHECK((*ok)["improvement_proposal"] == "about improvement_proposal");
  CHECK_THAT(ParseDiagnosis("no json here").status().message(), Catch::Contains("no JSON object"));
  CHECK_THAT(ParseDiagnosis("{not json}").status().message(), Catch::Contains("does not parse"));
  json missing = d;
  missing.erase("problem_description");
  CHECK_THAT(ParseDiagnosis(missing.dump()).status().message(), Catch::Contains("problem_description"));
  json wrong_type = d;
  wrong_type["implementation_suggestion"] = 3;
  CHECK_THAT(ParseDiagnosis(wrong_type.dump()).status().message(), Catch::Contains("implementation_suggestion"));
  const std::string deep = "{\"a\":" + std::string(300, '[') + std::string(300, ']') + "}";
  CHECK_THAT(ParseDiagnosis(deep).status().message(), Catch::Contains("nests too deeply"));
}

TEST_CASE("a missing template or placeholder is named when the prompts are loaded") {
  test::TempDir dir;
  test::WriteFile(dir / "diagnose.md", "{{agent_source}} {{problem}}");
  setenv("LINEAGE_PROMPTS", dir.path().c_str(), 1);
  auto missing = LoadPrompts();
  CHECK_THAT(missing.status().message(), Catch::Contains("self_modify.md is missing") &&
                                             Catch::Contains("LINEAGE_PROMPTS points there"));
  test::WriteFile(dir / "self_modify.md", "no placeholder");
  CHECK_THAT(CheckPromptTemplates().message(), Catch::Contains("lacks its placeholder {{problem_statement}}"));
  test::WriteFile(dir / "self_modify.md", "{{problem_statement}}");
  auto loaded = LoadPrompts();
  unsetenv("LINEAGE_PROMPTS");
  REQUIRE(loaded.ok());
  CHECK(loaded->self_modify == "{{problem_statement}}");
}

}  // namespace
}  // namespace lineage
