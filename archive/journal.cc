#include "archive/journal.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace lineage::journal {
namespace {

using json = nlohmann::json;

// The event's data when it is a JSON object; null otherwise.
json Data(const Event& event) {
  json data = json::parse(event.data_json, nullptr, false);
  return data.is_object() ? data : json();
}

std::string String(const json& data, const char* key) {
  auto it = data.find(key);
  return it != data.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string Diagnosis::Encode() const {
  return json{{"parent", parent}, {"problem", problem}, {"task", task}, {"proposal", proposal}, {"calls_task", calls_task}}
      .dump();
}

std::optional<Diagnosis> Diagnosis::Decode(const Event& event) {
  if (event.kind != kKind) return std::nullopt;
  const json data = Data(event);
  if (!data.is_object() || !data.contains("parent") || !data["parent"].is_number_integer()) return std::nullopt;
  Diagnosis d;
  d.parent = data["parent"].get<AgentId>();
  d.problem = String(data, "problem");
  d.task = String(data, "task");
  d.proposal = String(data, "proposal");
  d.calls_task = String(data, "calls_task");
  if (d.calls_task.empty()) return std::nullopt;
  return d;
}

std::string ChildMade::Encode() const { return json{{"attempt", attempt}, {"calls_task", calls_task}}.dump(); }

std::optional<ChildMade> ChildMade::Decode(const Event& event) {
  if (event.kind != "agent.committed" && event.kind != "agent.rejected") return std::nullopt;
  const json data = Data(event);
  if (!data.is_object()) return std::nullopt;
  ChildMade made;
  made.calls_task = String(data, "calls_task");
  if (made.calls_task.empty()) return std::nullopt;
  if (auto it = data.find("attempt"); it != data.end() && it->is_number_integer()) made.attempt = it->get<int>();
  return made;
}

std::string RunEnded::Encode() const {
  json data = {{"children_made", children_made}, {"reason", reason}};
  if (fault) {
    data["fault"] = true;
    data["retry_at"] = retry_at;
  }
  return data.dump();
}

std::optional<RunEnded> RunEnded::Decode(const Event& event) {
  if (event.kind.rfind("run.", 0) != 0) return std::nullopt;
  const json data = Data(event);
  if (!data.is_object()) return std::nullopt;
  RunEnded ended;
  if (auto it = data.find("children_made"); it != data.end() && it->is_number_integer()) ended.children_made = it->get<int>();
  ended.reason = String(data, "reason");
  if (auto it = data.find("fault"); it != data.end() && it->is_boolean()) ended.fault = it->get<bool>();
  if (auto it = data.find("retry_at"); it != data.end() && it->is_number_integer()) ended.retry_at = it->get<std::int64_t>();
  return ended;
}

std::string FinalDone::Encode(const std::string& details) const {
  json data = json::parse(details, nullptr, false);
  if (!data.is_object()) data = json::object();
  data["table"] = table;
  return data.dump();
}

std::optional<FinalDone> FinalDone::Decode(const Event& event) {
  if (event.kind != kKind) return std::nullopt;
  const json data = Data(event);
  if (!data.is_object()) return std::nullopt;
  FinalDone done;
  if (auto it = data.find("table"); it != data.end() && it->is_number_integer()) done.table = it->get<int>();
  return done;
}

namespace {

json OriginJson(const RunOrigin& o) {
  switch (o.kind) {
    case RunOrigin::Kind::kNone: return json();
    case RunOrigin::Kind::kFork: return {{"kind", "fork"}, {"run", o.run}, {"agent", o.agent}};
    case RunOrigin::Kind::kReplay: return {{"kind", "replay"}, {"run", o.run}, {"home", o.home}};
  }
  return json();
}

RunOrigin OriginFrom(const json& data) {
  RunOrigin o;
  if (!data.is_object()) return o;
  const std::string kind = String(data, "kind");
  o.kind = kind == "fork" ? RunOrigin::Kind::kFork : kind == "replay" ? RunOrigin::Kind::kReplay : RunOrigin::Kind::kNone;
  if (auto it = data.find("run"); it != data.end() && it->is_number_integer()) o.run = it->get<RunId>();
  if (auto it = data.find("agent"); it != data.end() && it->is_number_integer()) o.agent = it->get<AgentId>();
  o.home = String(data, "home");
  return o;
}

template <typename T>
void Optional(const json& data, const char* key, std::optional<T>* out) {
  if (auto it = data.find(key); it != data.end() && it->is_number()) *out = it->get<T>();
}

}  // namespace

std::string RunOrigin::Encode() const { return OriginJson(*this).dump(); }

std::string StoredConfig::Raised::Encode() const {
  json budget = json::object();
  if (children) budget["children"] = *children;
  if (cost_usd) budget["cost_usd"] = *cost_usd;
  if (tokens) budget["tokens"] = *tokens;
  if (task_evaluations) budget["task_evaluations"] = *task_evaluations;
  return budget.dump();
}

std::string StoredConfig::Encode() const {
  json stored = json::object();
  for (const auto& [key, value] : unknown) stored[key] = json::parse(value, nullptr, false);
  stored.update({{"source", source}, {"base_dir", base_dir}, {"text", text}, {"models_override", models_override},
                 {"models_override_text", models_override_text}});
  if (origin.kind != RunOrigin::Kind::kNone) stored["origin"] = OriginJson(origin);
  if (json budget = json::parse(raised.Encode()); !budget.empty()) stored["budget_raised"] = budget;
  return stored.dump();
}

std::optional<StoredConfig> StoredConfig::Decode(const std::string& runs_config) {
  const json stored = json::parse(runs_config, nullptr, false);
  if (!stored.is_object() || !stored.contains("text") || !stored["text"].is_string()) return std::nullopt;
  StoredConfig c;
  c.source = stored.contains("source") ? String(stored, "source") : "run config";
  c.base_dir = stored.contains("base_dir") ? String(stored, "base_dir") : ".";
  c.text = String(stored, "text");
  c.models_override = String(stored, "models_override");
  c.models_override_text = String(stored, "models_override_text");
  if (auto it = stored.find("budget_raised"); it != stored.end() && it->is_object()) {
    Optional(*it, "children", &c.raised.children);
    Optional(*it, "cost_usd", &c.raised.cost_usd);
    Optional(*it, "tokens", &c.raised.tokens);
    Optional(*it, "task_evaluations", &c.raised.task_evaluations);
  }
  if (auto it = stored.find("origin"); it != stored.end()) c.origin = OriginFrom(*it);
  static const char* const kKnown[] = {"source", "base_dir", "text", "models_override", "models_override_text",
                                       "budget_raised", "origin"};
  for (const auto& [key, value] : stored.items()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) c.unknown[key] = value.dump();
  }
  return c;
}

}  // namespace lineage::journal
