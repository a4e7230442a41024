#include "archive/journal.h"

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

}  // namespace lineage::journal
