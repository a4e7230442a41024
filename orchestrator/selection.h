// Parent selection: which archived agent the next child grows from. Pure functions of the archive's
// statistics and a seeded generator, so every strategy is unit-testable and a run replays the same way.
//
//   dgm              DGM's default: p_i ∝ sigmoid(λ(α_i − α₀)) / (1 + admitted children of i)
//   score-prop       p_i ∝ sigmoid(λ(α_i − α₀))
//   best             the highest score (ties: fewer admitted children, then the older agent)
//   random           uniform over the candidates
//   hgm              HGM's clade metaproductivity: θ ~ Beta(1 + solved, 1 + failed) pooled over each agent
//                    and its descendants; the argmax is expanded (Thompson sampling). With hgm the run's
//                    unit of evaluation is one task run, and DecideHgm chooses each free slot's work.
//   no-open-ended    always the newest candidate (DGM's ablation)
//   no-self-improve  chosen as dgm; the seed agent, not the parent, makes the change (DGM's ablation)
// α_i is solved / attempted over the tasks agent i attempted (0 when it attempted none).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "archive/archive.h"

namespace lineage {

// How parents are chosen: the strategies above, and their parameters ([selection] of a run).
enum class SelectionStrategy { kDgm, kScoreProp, kBest, kRandom, kHgm, kNoOpenEnded, kNoSelfImprove };
const char* SelectionStrategyName(SelectionStrategy strategy);  // "dgm", "score-prop", ...

struct SelectionParams {
  SelectionStrategy strategy = SelectionStrategy::kDgm;
  double lambda = 10;   // dgm, score-prop: steepness of the sigmoid over scores
  double alpha0 = 0.5;  // dgm, score-prop: the score at the sigmoid's midpoint
  double alpha = 0.6;   // hgm: expand when (task evaluations)^alpha >= nodes - 1 + pending expansions
};

// The agents a parent may be drawn from: the seed and every admitted agent of `all`.
std::vector<SelectionStats> SelectionCandidates(const std::vector<SelectionStats>& all, AgentId seed);

// The probability of each candidate, in order, for the strategies that draw from a fixed distribution
// (dgm, score-prop, random, no-self-improve); best and no-open-ended put all the mass on one agent. Empty for hgm.
std::vector<double> SelectionWeights(const SelectionParams& params, const std::vector<SelectionStats>& candidates);

// Draws one parent from `candidates` (not empty). `all` is every agent of the run, for hgm's clades.
AgentId SelectParent(const SelectionParams& params, const std::vector<SelectionStats>& candidates,
                     const std::vector<SelectionStats>& all, std::mt19937_64& rng);

// Which agent runs the self-modification: the parent, except under no-self-improve (the seed).
AgentId ModifyingAgent(const SelectionParams& params, AgentId parent, AgentId seed);

// ---- HGM's policy: expand a node, or evaluate one more task of one ------------------------------------

// One agent of the run as HGM's policy sees it.
struct HgmNode {
  AgentId id = 0;
  std::optional<AgentId> parent_id;
  int solved = 0, attempted = 0;  // its own task results
  bool expandable = false;        // may be a parent: the seed, or an admitted agent
  bool evaluable = false;         // has a task it has not run (and none of its runs is in flight for it)
};

struct HgmState {
  std::vector<HgmNode> nodes;     // every agent in the tree (rejected ones count as nodes, and in clades)
  std::int64_t task_evaluations = 0;  // the run's task runs, done and in flight
  int pending_expansions = 0;         // children being made
  bool may_expand = true;             // the run's children budget and in-flight cap allow one more
  bool may_evaluate = true;           // its task_evaluations budget allows one more
};

struct HgmDecision {
  enum class Action { kExpand, kEvaluate, kNone };  // kNone: nothing can be done now
  Action action = Action::kNone;
  AgentId agent = 0;  // the parent to expand, or the agent to evaluate
};

// Expands when (task evaluations)^alpha >= nodes - 1 + pending expansions, choosing the parent by Thompson
// sampling on clade metaproductivity (each expandable node's own and its descendants' results pooled);
// otherwise evaluates, choosing the agent by Thompson sampling on its own results, θ ~ Beta(1 + solved,
// 1 + failed). When the rule's choice is impossible (no evaluable agent, or no expansion allowed) it does
// the other, so no slot idles while work remains.
HgmDecision DecideHgm(double alpha, const HgmState& state, std::mt19937_64& rng);

}  // namespace lineage
