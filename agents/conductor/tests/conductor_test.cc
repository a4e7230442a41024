// The conductor loop over a scripted model: it offers its tools, runs them, consults experts in a fresh
// context, reminds a model that calls no tool, and ends for each reason with the right status.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <deque>

#include "../src/conductor.h"

namespace conductor {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Answers from a list, and keeps every request.
class ScriptedModel : public Model {
 public:
  explicit ScriptedModel(std::deque<ModelReply> replies) : replies_(std::move(replies)) {}
  ModelReply Chat(const std::string& model, const json& messages, const json& tools, const std::string& purpose) override {
    requests.push_back({{"model", model}, {"messages", messages}, {"tools", tools}, {"purpose", purpose}});
    if (replies_.empty()) return ModelReply{false, false, 400, "the script ran out", json(), "", json()};
    ModelReply r = replies_.front();
    if (replies_.size() > 1 || !repeat_last) replies_.pop_front();
    return r;
  }
  std::vector<json> requests;
  bool repeat_last = false;

 private:
  std::deque<ModelReply> replies_;
};

ModelReply Call(const std::string& tool, const json& args) {
  json call = {{"id", "call_" + tool}, {"type", "function"}, {"function", {{"name", tool}, {"arguments", args.dump()}}}};
  return ModelReply{true, false, 200, "", {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {call}}}, "tool_calls", json()};
}

ModelReply Text(const std::string& text) {
  return ModelReply{true, false, 200, "", {{"role", "assistant"}, {"content", text}}, "stop", json()};
}

struct Fixture {
  fs::path ws;
  Settings settings;
  fs::path trajectory_file;
  Fixture() {
    std::string tmpl = (fs::temp_directory_path() / "conductor-test-XXXXXX").string();
    ws = mkdtemp(tmpl.data());
    settings.workspace = ws;
    settings.prompts = fs::path(CONDUCTOR_SOURCE_DIR) / "prompts";
    settings.instruction = "Make test.sh pass.";
    settings.max_rounds = 5;
    settings.bash_timeout_seconds = 10;
    trajectory_file = ws / ".trajectory.jsonl";
  }
  ~Fixture() { fs::remove_all(ws); }
  Outcome Run(ScriptedModel& model) {
    Trajectory trajectory(trajectory_file);
    return RunConductor(settings, model, trajectory);
  }
};

TEST_CASE("the conductor offers its four tools, runs them, and finishes with the summary") {
  Fixture f;
  ScriptedModel model({Call("bash", {{"command", "echo hello > out.txt"}}),
                       Call("editor", {{"command", "view"}, {"path", "out.txt"}}),
                       Call("finish", {{"summary", "wrote out.txt"}})});
  Outcome o = f.Run(model);
  CHECK(o.status == "finished");
  CHECK(o.summary == "wrote out.txt");
  CHECK(o.rounds == 3);
  REQUIRE(model.requests.size() == 3);
  std::vector<std::string> names;
  for (const json& t : model.requests[0]["tools"]) names.push_back(t["function"]["name"]);
  CHECK(names == std::vector<std::string>{"bash", "editor", "consult_expert", "finish"});
  CHECK(model.requests[0]["purpose"] == "conductor");
  // The editor's answer reached the model as the tool result.
  const json last = model.requests[2]["messages"].back();
  CHECK(last["role"] == "tool");
  CHECK(last["content"] == "1\thello\n");
}

TEST_CASE("an expert answers in a fresh context that holds only its instructions") {
  Fixture f;
  ScriptedModel model({Call("consult_expert", {{"name", "Expert Reviewer"}, {"instructions", "Is 2+2 4?"}}),
                       Text("Answer: yes."), Call("finish", {{"summary", "asked"}})});
  CHECK(f.Run(model).status == "finished");
  REQUIRE(model.requests.size() == 3);
  const json& expert = model.requests[1];
  CHECK(expert["purpose"] == "expert");
  REQUIRE(expert["messages"].size() == 2);
  CHECK(expert["messages"][0]["content"].get<std::string>().find("You are Expert Reviewer") != std::string::npos);
  CHECK(expert["messages"][1]["content"] == "Is 2+2 4?");
  CHECK(expert["tools"].empty());
  CHECK(model.requests[2]["messages"].back()["content"].get<std::string>().find("Expert Reviewer's output:\nAnswer: yes.") !=
        std::string::npos);
}

TEST_CASE("a model that calls no tool is reminded, and the round cap ends the run") {
  Fixture f;
  ScriptedModel model({Text("Let me think.")});
  model.repeat_last = true;
  Outcome o = f.Run(model);
  CHECK(o.status == "round_cap");
  CHECK(o.rounds == 5);
  CHECK(model.requests.size() == 5);
  CHECK(model.requests[1]["messages"].back()["content"].get<std::string>().find("Your reply used no tool") !=
        std::string::npos);
  CHECK(model.requests[4]["messages"].back()["content"].get<std::string>().find("This is the last round") !=
        std::string::npos);
}

TEST_CASE("a refused budget and a failing model end the run with their own status") {
  Fixture f;
  ScriptedModel spent({ModelReply{false, true, 402, "budget exhausted", json(), "", json()}});
  Outcome o = f.Run(spent);
  CHECK(o.status == "budget_exhausted");
  CHECK(o.summary == "budget exhausted");
  ScriptedModel broken({ModelReply{false, false, 500, "upstream down", json(), "", json()}});
  CHECK(f.Run(broken).status == "model_error");
}

TEST_CASE("bad tool calls come back as errors the model can act on, and the run goes on") {
  Fixture f;
  ModelReply bad_json = Call("bash", {});
  bad_json.message["tool_calls"][0]["function"]["arguments"] = "{\"command\": \"ls";
  ScriptedModel model({bad_json, Call("teleport", {{"to", "mars"}}), Call("bash", {{"command", 7}}),
                       Call("finish", {{"summary", "done"}})});
  CHECK(f.Run(model).status == "finished");
  auto tool_result = [&](int request) { return model.requests[request]["messages"].back()["content"].get<std::string>(); };
  CHECK(tool_result(1).find("Error: the arguments are not a valid JSON object") == 0);
  CHECK(tool_result(2) == "Error: unknown tool 'teleport'; the tools are bash, editor, consult_expert, finish");
  CHECK(tool_result(3) == "Error: `command` (a string) is required");
}

TEST_CASE("a missing prompt file stops the conductor, naming it, rather than sending an empty prompt") {
  Fixture f;
  f.settings.prompts = f.ws / "no-prompts";
  ScriptedModel model({Call("finish", {{"summary", "done"}})});
  CHECK_THROWS_WITH(f.Run(model), Catch::Contains("no-prompts/system.md is missing"));
  CHECK(model.requests.empty());
}

}  // namespace
}  // namespace conductor
