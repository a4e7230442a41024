// Rendering the archive for people and scripts: the terminal tree, `tree --json`, and full exports.
//
// Every function takes agents as Archive::ListAgents() returns them (id order, children filled in) and
// walks the tree iteratively, so a chain 100,000 deep renders without deep recursion.
#pragma once

#include <string>
#include <vector>

#include "archive/archive.h"

namespace lineage {

// Roots are agents whose parent is absent from `agents`. max_depth < 0 means no limit; roots are depth 0.
//
//   #1 seed  score 0.400 [0.168, 0.687]  admitted      (the mean, and its 95% interval: archive/scores.h)
//   ├─ #2  score 0.600 [0.313, 0.832]  admitted  +12 -3
//   │  └─ #4  ...         (an only child has its connector too; past 24 generations the indent stops growing)
//   └─ #3  ...  rejected: build failed
std::string RenderTreeText(const std::vector<Agent>& agents, int max_depth, bool color);

// {"roots":[1], "agents":[{"id":1,"parent":null,"depth":0,"score":0.4,"score_interval":[0.168,0.687],"status":"admitted","children":[2,3],...}]}
std::string RenderTreeJson(const std::vector<Agent>& agents, int max_depth);

// `lineage export`: every run and agent with stages (json), one agent per row (csv), a Graphviz digraph (dot).
std::string ExportJson(const std::vector<Run>& runs, const std::vector<Agent>& agents);
std::string ExportCsv(const std::vector<Agent>& agents);
std::string ExportDot(const std::vector<Agent>& agents);

// One agent as a JSON object (used by `show --json` and the exports).
std::string AgentJson(const Agent& agent);

}  // namespace lineage
