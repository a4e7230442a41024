// Parent selection: which archived agent the next child grows from. Pure functions of the archive's
// statistics and a seeded generator, so every strategy is unit-testable and a run replays the same way.
//
//   dgm              DGM's default: p_i ∝ sigmoid(λ(α_i − α₀)) / (1 + admitted children of i)
//   score-prop       p_i ∝ sigmoid(λ(α_i − α₀))
//   best             the highest score (ties: fewer admitted children, then the older agent)
//   random           uniform over the candidates
//   hgm              HGM's clade metaproductivity: θ ~ Beta(1 + solved, 1 + failed) pooled over each agent
//                    and its descendants; the argmax is expanded (Thompson sampling)
//   no-open-ended    always the newest candidate (DGM's ablation)
//   no-self-improve  chosen as dgm; the seed agent, not the parent, makes the change (DGM's ablation)
// α_i is solved / attempted over the tasks agent i attempted (0 when it attempted none).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "archive/archive.h"
#include "orchestrator/orchestrator.h"

namespace lineage {

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

}  // namespace lineage
