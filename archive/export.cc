#include "archive/export.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "archive/scores.h"
#include "base/files.h"

namespace lineage {
namespace {

using json = nlohmann::ordered_json;

// [low, high] of the agent's 95% interval (archive/scores.h), or null.
json IntervalJson(const Agent& a) {
  const auto interval = AgentInterval(a);
  return interval ? json::array({interval->low, interval->high}) : json(nullptr);
}

json ToJson(const Agent& a) {
  json stages = json::array();
  for (const StageScore& s : a.stages) {
    stages.push_back({{"stage", s.stage}, {"attempted", s.attempted}, {"solved", s.solved},
                      {"score", s.score ? json(*s.score) : json(nullptr)}});
  }
  json diagnosis = nullptr;
  if (!a.diagnosis_json.empty()) diagnosis = json::parse(a.diagnosis_json, nullptr, /*allow_exceptions=*/false);
  return {{"id", a.id},
          {"run", a.run_id ? json(*a.run_id) : json(nullptr)},
          {"parent", a.parent_id ? json(*a.parent_id) : json(nullptr)},
          {"name", a.name},
          {"commit", a.commit.empty() ? json(nullptr) : json(a.commit)},
          {"generation", a.generation},
          {"status", StateName(a.state)},
          {"reason", a.reason},
          {"score", a.score ? json(*a.score) : json(nullptr)},
          {"score_interval", IntervalJson(a)},
          {"solved", SolvedTasks(a)},
          {"attempted", AttemptedTasks(a)},
          {"stage_reached", a.stage_reached},
          {"stages", stages},
          {"children", a.children},
          {"files_changed", a.files_changed},
          {"lines_added", a.lines_added},
          {"lines_removed", a.lines_removed},
          {"tokens_in", a.tokens_in},
          {"tokens_out", a.tokens_out},
          {"cost_usd", a.cost_usd},
          {"problem_statement", a.problem_statement},
          {"diagnosis", diagnosis},
          {"created_at", FormatTimestamp(a.created_at)},
          {"updated_at", FormatTimestamp(a.updated_at)}};
}

std::string ScoreText(const Agent& a) { return "score " + ScoreWithInterval(a); }

// Generations drawn with their own indent in the terminal tree; deeper ones share the last column.
constexpr int kMaxIndent = 24;

// One line of the tree: the agent, its depth, and the text drawn before it.
struct TreeLine {
  const Agent* agent;
  int depth;
  std::string lead;          // connectors drawn before this agent
  std::string child_prefix;  // what its children's lines start with
};

// Visits agents depth-first in id order without recursion, skipping subtrees deeper than max_depth.
// Connector text is built only when `draw` is set.
template <typename Visit>
void WalkTree(const std::vector<Agent>& agents, int max_depth, bool draw, Visit visit) {
  std::map<AgentId, const Agent*> by_id;
  for (const Agent& a : agents) by_id[a.id] = &a;
  std::vector<TreeLine> stack;
  std::vector<const Agent*> roots;
  for (const Agent& a : agents) {
    if (!a.parent_id || by_id.count(*a.parent_id) == 0) roots.push_back(&a);
  }
  for (size_t i = roots.size(); i-- > 0;) stack.push_back({roots[i], 0, "", ""});
  while (!stack.empty()) {
    TreeLine line = std::move(stack.back());
    stack.pop_back();
    visit(line);
    if (max_depth >= 0 && line.depth >= max_depth) continue;
    const auto& kids = line.agent->children;
    for (size_t i = kids.size(); i-- > 0;) {
      auto it = by_id.find(kids[i]);
      if (it == by_id.end()) continue;
      TreeLine child{it->second, line.depth + 1, "", ""};
      if (draw) {
        // Every child hangs from a connector, an only child too: without one a chain reads as separate roots.
        const bool last = i + 1 == kids.size();
        child.lead = line.child_prefix + (last ? "└─ " : "├─ ");
        // Past kMaxIndent generations the indent stops growing, so a chain of 100,000 stays linear in size
        // (its lines keep their connectors; --json gives each agent's depth).
        child.child_prefix = line.child_prefix;
        if (line.depth + 1 <= kMaxIndent) child.child_prefix += last ? "   " : "│  ";
      }
      stack.push_back(std::move(child));
    }
  }
}

const char* StateColor(AgentState state) {
  if (state == AgentState::kAdmitted) return "\033[32m";
  if (state == AgentState::kRejected || state == AgentState::kFailed) return "\033[31m";
  if (state == AgentState::kPending || state == AgentState::kEvaluating) return "\033[33m";
  return "";
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string DotEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

}  // namespace

std::string AgentJson(const Agent& agent) { return ToJson(agent).dump(2); }

std::string RenderTreeText(const std::vector<Agent>& agents, int max_depth, bool color) {
  std::ostringstream out;
  WalkTree(agents, max_depth, /*draw=*/true, [&](const TreeLine& line) {
    const Agent& a = *line.agent;
    out << line.lead << '#' << a.id;
    if (!a.name.empty()) out << ' ' << a.name;
    out << "  " << ScoreText(a) << "  ";
    const char* tint = color ? StateColor(a.state) : "";
    out << tint << StateName(a.state) << (*tint ? "\033[0m" : "");
    if (!a.reason.empty()) out << ": " << a.reason;
    if (a.parent_id) out << "  +" << a.lines_added << " -" << a.lines_removed;
    if (max_depth >= 0 && line.depth == max_depth && !a.children.empty()) {
      out << "  (" << a.children.size() << (a.children.size() == 1 ? " child" : " children") << " below)";
    }
    out << '\n';
  });
  return out.str();
}

std::string RenderTreeJson(const std::vector<Agent>& agents, int max_depth) {
  json roots = json::array();
  json nodes = json::array();
  WalkTree(agents, max_depth, /*draw=*/false, [&](const TreeLine& line) {
    const Agent& a = *line.agent;
    if (line.depth == 0) roots.push_back(a.id);
    nodes.push_back({{"id", a.id},
                     {"parent", a.parent_id ? json(*a.parent_id) : json(nullptr)},
                     {"depth", line.depth},
                     {"name", a.name},
                     {"score", a.score ? json(*a.score) : json(nullptr)},
                     {"score_interval", IntervalJson(a)},
                     {"status", StateName(a.state)},
                     {"stage_reached", a.stage_reached},
                     {"children", a.children}});
  });
  return json{{"roots", roots}, {"agents", nodes}}.dump() + "\n";
}

std::string ExportJson(const std::vector<Run>& runs, const std::vector<Agent>& agents) {
  json out_runs = json::array();
  for (const Run& r : runs) {
    out_runs.push_back({{"id", r.id},
                        {"name", r.name},
                        {"status", StateName(r.state)},
                        {"seed_agent", r.seed_agent_id ? json(*r.seed_agent_id) : json(nullptr)},
                        {"created_at", FormatTimestamp(r.created_at)}});
  }
  json out_agents = json::array();
  for (const Agent& a : agents) out_agents.push_back(ToJson(a));
  return json{{"runs", out_runs}, {"agents", out_agents}}.dump(2) + "\n";
}

std::string ExportCsv(const std::vector<Agent>& agents) {
  std::ostringstream out;
  out << "id,run,parent,name,commit,generation,status,reason,score,stage_reached,files_changed,lines_added,"
         "lines_removed,tokens_in,tokens_out,cost_usd,created_at\n";
  for (const Agent& a : agents) {
    out << a.id << ',' << (a.run_id ? std::to_string(*a.run_id) : "") << ','
        << (a.parent_id ? std::to_string(*a.parent_id) : "") << ',' << CsvField(a.name) << ',' << a.commit << ','
        << a.generation << ',' << StateName(a.state) << ',' << CsvField(a.reason) << ','
        << (a.score ? std::to_string(*a.score) : "") << ',' << a.stage_reached << ',' << a.files_changed << ','
        << a.lines_added << ',' << a.lines_removed << ',' << a.tokens_in << ',' << a.tokens_out << ',' << a.cost_usd
        << ',' << FormatTimestamp(a.created_at) << '\n';
  }
  return out.str();
}

std::string ExportDot(const std::vector<Agent>& agents) {
  std::ostringstream out;
  out << "digraph lineage {\n  rankdir=TB;\n  node [shape=box, style=filled, fontname=\"monospace\"];\n";
  for (const Agent& a : agents) {
    // Fill from red (0) to green (1) by score; grey when unscored.
    std::string fill = "#dddddd";
    if (a.score) {
      int g = static_cast<int>(*a.score * 255), r = 255 - g;
      char buf[16];
      std::snprintf(buf, sizeof buf, "#%02x%02x80", r, g);
      fill = buf;
    }
    std::string label = DotEscape("#" + std::to_string(a.id) + (a.name.empty() ? "" : " " + a.name)) + "\\n" +
                        ScoreText(a) + "\\n" + DotEscape(StateName(a.state));
    out << "  a" << a.id << " [label=\"" << label << "\", fillcolor=\"" << fill << "\""
        << (a.state == AgentState::kRejected || a.state == AgentState::kFailed ? ", style=\"filled,dashed\"" : "")
        << "];\n";
  }
  for (const Agent& a : agents) {
    if (a.parent_id) out << "  a" << *a.parent_id << " -> a" << a.id << ";\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace lineage
