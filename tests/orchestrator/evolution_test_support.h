// A scripted world for evolution tests: the fake model server answering diagnoses in a fixed cycle of
// outcomes, a scripted agent that solves three starter tasks, and a run configuration over them.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "llm/fake_server.h"
#include "tests/support/test_support.h"

namespace lineage::test {

inline const std::filesystem::path kSourceDir = LINEAGE_SOURCE_DIR;
inline const std::filesystem::path kScriptedAgent = kSourceDir / "tests" / "orchestrator" / "data" / "scripted_agent";

// Each diagnosis names the change the self-modification will make, in this order, then again:
// good (admitted), empty (rejected: empty change), break (rejected: build failed), noop (rejected: lost
// its editing ability).
inline const char* const kModes[] = {"good", "empty", "break", "noop"};

inline std::string WriteAnswer(const std::map<std::string, std::string>& files) {
  return nlohmann::json{{"write", files}}.dump();
}

inline std::string StarterSolution(const std::string& task, const std::string& file) {
  return ReadFileOrDie(kSourceDir / "evaluators" / "starter" / task / "solution" / file);
}

// `extra`: more (match, answer) pairs, tried before the others (a suite's own tasks).
using Answers = std::vector<std::pair<std::string, std::string>>;

inline std::string ScriptJson(int delay_ms = 0, const Answers& extra = {}) {
  using nlohmann::json;
  json responses = json::array();
  auto answer = [&](const std::string& match, const std::string& text) {
    json r = {{"match", match}, {"text", text}};
    if (delay_ms) r["delay_ms"] = delay_ms;
    responses.push_back(r);
  };
  for (const auto& [match, text] : extra) answer(match, text);
  answer("Implement `fizzbuzz\\(n\\)`", WriteAnswer({{"fizzbuzz.py", StarterSolution("py/fizzbuzz", "fizzbuzz.py")}}));
  answer("has a function `median", WriteAnswer({{"stats.py", StarterSolution("py/fix-median", "stats.py")}}));
  answer("Implement `is_palindrome", WriteAnswer({{"palindrome.py", StarterSolution("py/palindrome", "palindrome.py")}}));
  answer("^lineage probe", "ok");
  answer("MODE: good", WriteAnswer({{"notes.md", "Read the tests before editing.\n"}}));
  answer("MODE: empty", "I would change nothing.");
  answer("MODE: break", WriteAnswer({{"extra.py", "def broken(:\n"}}));
  answer("MODE: noop", WriteAnswer({{"mode.txt", "noop\n"}}));
  for (const char* mode : kModes) {
    // Text that agents and models write reaches the dashboard and the report: markup in it must stay text.
    json diagnosis = {{"log_summarization", "the agent answered once <!-- and then <script>document.body.remove()</script>"},
                      {"potential_improvements", "more care"},
                      {"improvement_proposal", std::string("make the change called ") + mode},
                      {"implementation_suggestion", "edit the agent's files"},
                      {"problem_description", std::string("MODE: ") + mode}};
    json r = {{"text", "Here is my diagnosis:\n" + diagnosis.dump()}};
    if (delay_ms) r["delay_ms"] = delay_ms;
    responses.push_back(r);
  }
  return json{{"responses", responses}, {"when_exhausted", "cycle"}}.dump();
}

inline std::unique_ptr<llm::FakeModelServer> StartFakeModel(int delay_ms = 0, const Answers& extra = {}) {
  auto fake = llm::FakeModelServer::Start(ScriptJson(delay_ms, extra), "evolution test script");
  REQUIRE(fake.ok());
  return std::move(fake).value();
}

// A run configuration over the scripted agent: stage 1 fizzbuzz and fix-median, stage 2 palindrome.
// `budget` adds keys to [budget].
inline std::string RunToml(const std::string& fake_url, int children, int in_flight, const std::string& budget = "") {
  return "name = \"test run\"\n"
         "seed_agent = \"" + kScriptedAgent.string() + "\"\n"
         "random_seed = 7\n"
         "[models.default]\nprovider = \"openai\"\nbase_url = \"" + fake_url + "/v1\"\nmodel = \"gpt-4.1-mini\"\n"
         "[budget]\nchildren = " + std::to_string(children) + "\n" + budget +
         "[concurrency]\nchildren = " + std::to_string(in_flight) + "\nsandboxes = 2\n"
         "[agent]\nself_modify_wall_s = 60\ntask_wall_s = 60\n"
         "[[stages]]\nsuite = \"starter\"\ntasks = [\"py/fizzbuzz\", \"py/fix-median\"]\nthreshold = 0.5\n"
         "[[stages]]\nsuite = \"starter\"\ntasks = [\"py/palindrome\"]\n";
}

}  // namespace lineage::test
