#include "conductor.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tools.h"

namespace conductor {

using json = nlohmann::json;

void Trajectory::Add(json step) {
  step["at_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  out_ << step.dump() << "\n";
  out_.flush();  // a killed agent still leaves its steps behind
}

namespace {

// A prompt file. A missing one stops the conductor (main reports it): an empty prompt would fail quietly.
std::string Prompt(const Settings& s, const std::string& name) {
  std::ifstream in(s.prompts / name);
  if (!in) throw std::runtime_error("the prompt file " + (s.prompts / name).string() + " is missing");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Fill(std::string text, const std::string& key, const std::string& value) {
  const std::string marker = "{" + key + "}";
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + value.size())) {
    text.replace(at, marker.size(), value);
  }
  return text;
}

// Meta-reasoning: the model scores the strategies in prompts/strategies.md and the chosen one's text joins
// the system prompt. Any failure leaves the system prompt as it was.
std::string ChooseStrategy(const Settings& s, Model& model, Trajectory& trajectory) {
  const std::string strategies = Prompt(s, "strategies.md");
  const std::string ask = Fill(Fill(Prompt(s, "meta_reasoning.md"), "strategies", strategies), "instruction", s.instruction);
  ModelReply reply = model.Chat(s.conductor_model, json::array({{{"role", "user"}, {"content", ask}}}), json::array(),
                                "meta_reasoning");
  if (!reply.ok || !reply.message["content"].is_string()) return "";
  std::string text = reply.message["content"].get<std::string>();
  const size_t open = text.find('{'), close = text.rfind('}');
  json choice = open == std::string::npos || close == std::string::npos
                    ? json()
                    : json::parse(text.substr(open, close - open + 1), nullptr, false);
  if (!choice.is_object() || !choice.contains("choice") || !choice["choice"].is_string()) return "";
  const std::string name = choice["choice"].get<std::string>();
  const size_t at = strategies.find("## " + name);
  if (at == std::string::npos) return "";
  const size_t end = strategies.find("\n## ", at + 3);
  trajectory.Add({{"type", "strategy"}, {"choice", name}, {"scores", choice.value("scores", json::object())}});
  return "\n\nStrategy for this task:\n" + strategies.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::string Consult(const Settings& s, Model& model, const json& args, Trajectory& trajectory, bool* budget_spent) {
  const std::string name = args.value("name", "Expert");
  json messages = json::array({{{"role", "system"}, {"content", Fill(Prompt(s, "expert.md"), "name", name)}},
                               {{"role", "user"}, {"content", args.value("instructions", "")}}});
  ModelReply reply = model.Chat(s.expert_model, messages, json::array(), "expert");
  *budget_spent = reply.budget_exhausted;
  const std::string answer = reply.ok && reply.message["content"].is_string() ? reply.message["content"].get<std::string>()
                                                                               : "(the expert could not answer: " + reply.error + ")";
  trajectory.Add({{"type", "expert"}, {"name", name}, {"instructions", args.value("instructions", "")}, {"answer", answer}});
  return name + "'s output:\n" + answer + "\n\n" + Prompt(s, "after_expert.md");
}

}  // namespace

Outcome RunConductor(const Settings& s, Model& model, Trajectory& trajectory) {
  std::string system = Prompt(s, "system.md");
  if (s.meta_reasoning) system += ChooseStrategy(s, model, trajectory);
  json messages = json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", s.instruction}}});
  Editor editor(s.workspace, s.max_tool_output_bytes);
  Outcome outcome{"round_cap", "", 0};
  bool finished = false, budget_spent = false;

  // Every tool the model may call: its schema and its handler, together.
  const std::vector<Tool> tools = {
      BashTool(s.workspace, s.bash_timeout_seconds, s.max_tool_output_bytes),
      EditorTool(editor),
      {"consult_expert",
       "Ask an expert: the same model with a fresh context that sees only your instructions. Give it a name that "
       "says what it is and everything it needs to know.",
       {{"name", {{"type", "string"}}, true}, {"instructions", {{"type", "string"}}, true}},
       [&](const json& args) { return ToolOutput{Consult(s, model, args, trajectory, &budget_spent), false}; }},
      {"finish",
       "Finish: the task is done and verified. Summarize what you changed and how you checked it.",
       {{"summary", {{"type", "string"}}, true}},
       [&](const json& args) {
         finished = true;
         outcome.summary = args["summary"].get<std::string>();
         return ToolOutput{"finished", false};
       }},
  };
  const json schemas = Schemas(tools);

  for (int round = 1; round <= s.max_rounds; ++round) {
    outcome.rounds = round;
    if (round == s.max_rounds) messages.push_back({{"role", "user"}, {"content", Prompt(s, "last_round.md")}});
    ModelReply reply = model.Chat(s.conductor_model, messages, schemas, "conductor");
    trajectory.Add({{"type", "model"}, {"round", round}, {"ok", reply.ok}, {"message", reply.message},
                    {"usage", reply.usage}, {"error", reply.error}});
    if (!reply.ok) {
      outcome.status = reply.budget_exhausted ? "budget_exhausted" : "model_error";
      outcome.summary = reply.error;
      return outcome;
    }
    json assistant = {{"role", "assistant"}, {"content", reply.message.value("content", json())}};
    const json calls = reply.message.value("tool_calls", json::array());
    if (!calls.empty()) assistant["tool_calls"] = calls;
    messages.push_back(assistant);
    if (calls.empty()) {
      messages.push_back({{"role", "user"}, {"content", Prompt(s, "reminder.md")}});
      trajectory.Add({{"type", "reminder"}, {"round", round}});
      continue;
    }

    for (const json& call : calls) {
      const std::string id = call.value("id", "");
      const std::string name = call.contains("function") ? call["function"].value("name", "") : "";
      const std::string raw = call.contains("function") ? call["function"].value("arguments", "") : "";
      json args;
      ToolOutput result = Dispatch(tools, name, raw, &args);
      if (finished) {
        outcome.status = "finished";
        trajectory.Add({{"type", "finish"}, {"round", round}, {"summary", outcome.summary}});
        return outcome;
      }
      trajectory.Add({{"type", "tool"}, {"round", round}, {"name", name}, {"arguments", args},
                      {"output", result.text}, {"is_error", result.is_error}});
      messages.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", (result.is_error ? "Error: " : "") + result.text}});
    }
    if (budget_spent) {
      outcome.status = "budget_exhausted";
      outcome.summary = "the model budget was spent while consulting an expert";
      return outcome;
    }
  }
  outcome.summary = "stopped after " + std::to_string(s.max_rounds) + " rounds without finishing";
  return outcome;
}

}  // namespace conductor
