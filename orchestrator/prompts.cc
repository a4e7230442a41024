#include "orchestrator/prompts.h"

#include <algorithm>
#include <cstdlib>

#include "base/files.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

Result<std::string> ReadPrompt(const std::string& name, const std::vector<std::string>& placeholders) {
  const fs::path path = PromptsDir() / name;
  auto text = ReadFile(path);
  if (!text.ok()) {
    const bool env = std::getenv("LINEAGE_PROMPTS") && *std::getenv("LINEAGE_PROMPTS");
    return Status::FailedPrecondition("the prompt template " + path.string() + " is missing (" + text.status().message() +
                                      (env ? "); LINEAGE_PROMPTS points there" : "); reinstall lineage, or point LINEAGE_DATA_DIR at its data"));
  }
  for (const std::string& key : placeholders) {
    if (text->find("{{" + key + "}}") == std::string::npos) {
      return Status::FailedPrecondition("the prompt template " + path.string() + " lacks its placeholder {{" + key + "}}");
    }
  }
  return text;
}

}  // namespace

Status CheckPromptTemplates() { return LoadPrompts().status(); }

fs::path PromptsDir() {
  if (const char* env = std::getenv("LINEAGE_PROMPTS"); env && *env) return env;
  return DataDir() / "prompts";
}

Result<Prompts> LoadPrompts() {
  Prompts p;
  LINEAGE_ASSIGN_OR_RETURN(p.diagnose, ReadPrompt("diagnose.md", {"agent_source", "problem"}));
  LINEAGE_ASSIGN_OR_RETURN(p.self_modify, ReadPrompt("self_modify.md", {"problem_statement"}));
  return p;
}

std::string Fill(const std::string& text, const std::map<std::string, std::string>& values) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t open; (open = text.find("{{", at)) != std::string::npos;) {
    const std::size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) break;
    auto it = values.find(text.substr(open + 2, close - open - 2));
    out += text.substr(at, open - at);
    out += it != values.end() ? it->second : text.substr(open, close + 2 - open);
    at = close + 2;
  }
  return out + text.substr(at);
}

std::string SourceListing(const std::vector<TreeEntry>& tree) {
  std::vector<const TreeEntry*> files;
  for (const TreeEntry& e : tree) {
    if (e.kind != TreeEntry::Kind::kSymlink && e.data.find('\0') == std::string::npos) files.push_back(&e);
  }
  std::stable_sort(files.begin(), files.end(), [](auto* a, auto* b) { return a->data.size() < b->data.size(); });
  std::string out, skipped;
  for (const TreeEntry* e : files) {
    std::string block = "## " + e->path + "\n```\n" + e->data + (e->data.empty() || e->data.back() == '\n' ? "" : "\n") + "```\n\n";
    if (out.size() + block.size() > kMaxSourceBytes) {
      skipped += (skipped.empty() ? "" : ", ") + e->path;
      continue;
    }
    out += block;
  }
  if (!skipped.empty()) out += "(not shown, for length: " + skipped + ")\n";
  return out;
}

Result<json> ParseDiagnosis(const std::string& reply) {
  const std::size_t open = reply.find('{'), close = reply.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return Status::InvalidArgument("the reply holds no JSON object");
  }
  const std::string text = reply.substr(open, close - open + 1);
  if (JsonNesting(text) > kMaxNesting) return Status::InvalidArgument("the reply's JSON nests too deeply");
  json d = json::parse(text, nullptr, false);
  if (d.is_discarded() || !d.is_object()) return Status::InvalidArgument("the reply's JSON does not parse");
  for (const char* field : kDiagnosisFields) {
    if (!d.contains(field) || !d[field].is_string()) {
      return Status::InvalidArgument(std::string("the diagnosis lacks the string field ") + field);
    }
  }
  return d;
}

std::string TaskLog(const Evaluation& e, const std::optional<std::string>& blob) {
  std::string log = "task " + e.task_id + " (suite " + e.suite + "), outcome " + OutcomeName(e.outcome) + "\n";
  if (!blob) return log;
  const json j = JsonNesting(*blob) > kMaxNesting ? json() : json::parse(*blob, nullptr, false);
  if (!j.is_object()) return log + ClipText(*blob, kMaxLogBytes);
  auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump(); };
  if (!text(j.value("detail", json())).empty()) log += "detail: " + text(j["detail"]) + "\n";
  if (j.contains("agent") && j["agent"].is_object()) {
    const json& a = j["agent"];
    log += "the agent ended " + text(a.value("status", json())) + " after " + text(a.value("rounds", json())) +
           " rounds: " + ClipText(text(a.value("summary", json())), 2048) + "\n";
  }
  log += "\nThe agent's patch:\n" + ClipText(text(j.value("patch", json())), kMaxLogBytes / 4) + "\n";
  if (j.contains("tests") && j["tests"].is_object()) {
    log += "\nThe test output:\n" + ClipText(text(j["tests"].value("output", json())), kMaxLogBytes / 4) + "\n";
  }
  if (j.contains("trajectory") && j["trajectory"].is_array() && log.size() < kMaxLogBytes) {
    std::string steps;
    const json& t = j["trajectory"];
    for (std::size_t i = t.size(); i-- > 0 && steps.size() < kMaxLogBytes - log.size();) {
      json step = t[i];
      if (step.is_object()) step.erase("at_ms");  // when a step happened says nothing, and varies
      steps.insert(0, ClipText(text(step), 4096) + "\n");
    }
    log += "\nThe end of the agent's trajectory (one step per line):\n" + steps;
  }
  // Nothing volatile goes into a prompt: the same failure reads the same in a replay and hits the cache.
  return Unvarying(ClipText(log, kMaxLogBytes + 4096));
}

llm::Message DiagnosisPrompt(const Prompts& prompts, const std::string& source, const std::string& problem) {
  const std::map<std::string, std::string> values = {{"agent_source", source}, {"problem", problem}};
  const std::string& text = prompts.diagnose;
  const std::size_t cut = text.find("{{problem}}");
  if (cut == std::string::npos || text.find("{{agent_source}}") > cut) return llm::Message::User(Fill(text, values));
  llm::Message message{llm::Role::kUser, {llm::Block::Text(Fill(text.substr(0, cut), values)),
                                          llm::Block::Text(Fill(text.substr(cut), values))}};
  message.content[0].cache = true;
  return message;
}

}  // namespace lineage
