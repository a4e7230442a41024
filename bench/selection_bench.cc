// selection_bench: which parent-selection strategy finds a good agent for the fewest evaluations.
//
// A SIMULATION, not a measurement of real agents. Each agent has a hidden solve rate; a task run is a coin
// with that rate. The seed solves 20%; a child inherits its parent's rate plus a perturbation (mostly small
// losses, sometimes gains: N(-0.01, 0.06), clamped to [0, 0.95]), and one child in five is broken (solves
// nothing, and is rejected once judged). Making a child costs --expansion-cost task runs' worth (its
// diagnosis and self-modification); each task run costs 1.
//
// dgm, score-prop, best and random run DGM's loop: select a parent (lineage's own SelectParent), make a
// child, evaluate it on 10 tasks, then 50 more when it solved at least 40% (DGM's Polyglot stages). hgm runs
// HGM's policy (lineage's own DecideHgm): each step expands a node or runs one more task of one.
//
// For each seed, the best reachable rate p* is the best true rate of any agent any strategy made with that
// seed. A run has found it once the agent it would report as best (the best lower bound of a 95% Wilson
// interval, as lineage reports) is within --epsilon of p*. Printed, averaged over seeds: the cost spent until
// then (runs that never do count the whole budget), how often it happened, and the final regret
// p* - p(reported best).
//
//   selection_bench [--seeds 200] [--budget 2000] [--expansion-cost 10] [--epsilon 0.05] [--alpha 0.6]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "archive/scores.h"
#include "orchestrator/selection.h"

namespace {

using lineage::AgentId;
using lineage::AgentState;

struct Args {
  int seeds = 200;
  double budget = 2000, expansion_cost = 10, epsilon = 0.05, alpha = 0.6;
};

struct SimAgent {
  AgentId id = 0;
  std::optional<AgentId> parent;
  double rate = 0;
  int solved = 0, attempted = 0;
  AgentState state = AgentState::kEvaluating;
};

// One simulated run: the archive, the cost spent, and the trace of what it would report as best.
class Sim {
 public:
  Sim(const Args& args, std::uint64_t seed) : args_(args), rng_(seed) {
    agents_.push_back({1, std::nullopt, 0.2, 0, 0, AgentState::kAdmitted});
  }

  double spent() const { return spent_; }
  const std::vector<SimAgent>& agents() const { return agents_; }
  SimAgent& agent(AgentId id) { return agents_[id - 1]; }
  bool Affords(double cost) const { return spent_ + cost <= args_.budget; }

  void RunTask(SimAgent& a) {
    ++a.attempted;
    a.solved += std::bernoulli_distribution(a.rate)(rng_);
    spent_ += 1;
    Observe();
  }

  AgentId Expand(AgentId parent) {
    const double base = agents_[parent - 1].rate;
    const bool broken = std::bernoulli_distribution(0.2)(rng_);
    const double rate = broken ? 0 : std::clamp(base + std::normal_distribution<double>(-0.01, 0.06)(rng_), 0.0, 0.95);
    agents_.push_back({static_cast<AgentId>(agents_.size() + 1), parent, rate, 0, 0, AgentState::kEvaluating});
    spent_ += args_.expansion_cost;
    Observe();
    return agents_.back().id;
  }

  // The true rate of the agent the run would report as best, after each cost spent: (cost, rate).
  const std::vector<std::pair<double, double>>& trace() const { return trace_; }

 private:
  void Observe() {
    const SimAgent* best = nullptr;
    double best_low = -1;
    for (const SimAgent& a : agents_) {
      if (a.state != AgentState::kAdmitted || a.attempted == 0) continue;
      const double low = lineage::WilsonInterval(a.solved, a.attempted)->low;
      if (low > best_low) {
        best_low = low;
        best = &a;
      }
    }
    trace_.push_back({spent_, best ? best->rate : agents_[0].rate});
  }

  const Args& args_;
  std::mt19937_64 rng_;
  std::vector<SimAgent> agents_;
  double spent_ = 0;
  std::vector<std::pair<double, double>> trace_;
};

lineage::SelectionStats Stats(const SimAgent& a, const std::vector<SimAgent>& all) {
  lineage::SelectionStats s;
  s.id = a.id;
  s.parent_id = a.parent;
  s.attempted = a.attempted;
  s.solved = a.solved;
  s.state = a.state;
  for (const SimAgent& c : all) s.admitted_children += c.parent == a.id && c.state == AgentState::kAdmitted;
  return s;
}

// DGM's loop with `strategy`: a child, 10 tasks, and 50 more past 40%.
void RunDgm(Sim& sim, const Args& args, lineage::SelectionStrategy strategy, std::mt19937_64& rng) {
  lineage::SelectionParams params;
  params.strategy = strategy;
  // The seed is evaluated first, as lineage does.
  for (int i = 0; i < 10 && sim.Affords(1); ++i) sim.RunTask(sim.agent(1));
  while (sim.Affords(args.expansion_cost + 10)) {  // a child and its first stage
    std::vector<lineage::SelectionStats> all;
    for (const SimAgent& a : sim.agents()) all.push_back(Stats(a, sim.agents()));
    const auto candidates = lineage::SelectionCandidates(all, 1);
    const AgentId parent = lineage::SelectParent(params, candidates, all, rng);
    const AgentId id = sim.Expand(parent);
    auto agent = [&]() -> SimAgent& { return sim.agent(id); };
    for (int i = 0; i < 10 && sim.Affords(1); ++i) sim.RunTask(agent());
    if (agent().attempted < 10) break;  // the budget ran out mid-stage
    agent().state = agent().rate > 0 ? AgentState::kAdmitted : AgentState::kRejected;  // broken: lost editing
    if (agent().state == AgentState::kAdmitted && agent().solved >= 4) {
      for (int i = 0; i < 50 && sim.Affords(1); ++i) sim.RunTask(agent());
    }
  }
}

// HGM's policy: expand or evaluate one task, at every step.
void RunHgm(Sim& sim, const Args& args, std::mt19937_64& rng) {
  for (int i = 0; i < 10 && sim.Affords(1); ++i) sim.RunTask(sim.agent(1));
  std::int64_t evaluations = 10;
  for (;;) {
    lineage::HgmState state;
    state.task_evaluations = evaluations;
    for (const SimAgent& a : sim.agents()) {
      const bool alive = a.state != AgentState::kRejected;
      state.nodes.push_back({a.id, a.parent, a.solved, a.attempted, a.state == AgentState::kAdmitted,
                             alive && a.attempted < 60});
    }
    state.may_expand = sim.Affords(args.expansion_cost);
    state.may_evaluate = sim.Affords(1);
    const lineage::HgmDecision d = lineage::DecideHgm(args.alpha, state, rng);
    if (d.action == lineage::HgmDecision::Action::kNone) break;
    if (d.action == lineage::HgmDecision::Action::kExpand) {
      sim.Expand(d.agent);
      continue;
    }
    SimAgent& a = sim.agent(d.agent);
    sim.RunTask(a);
    ++evaluations;
    // Judged as lineage judges under hgm: admitted at its first non-empty patch (a working agent always
    // makes one), rejected once its 10 stage-1 tasks gave none.
    if (a.state == AgentState::kEvaluating) {
      if (a.rate > 0) a.state = AgentState::kAdmitted;
      else if (a.attempted >= 10) a.state = AgentState::kRejected;
    }
  }
}

struct Tally {
  double to_epsilon = 0, regret = 0, agents = 0;
  int found = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const double value = std::atof(argv[i + 1]);
    if (flag == "--seeds") args.seeds = static_cast<int>(value);
    else if (flag == "--budget") args.budget = value;
    else if (flag == "--expansion-cost") args.expansion_cost = value;
    else if (flag == "--epsilon") args.epsilon = value;
    else if (flag == "--alpha") args.alpha = value;
    else {
      std::fprintf(stderr, "selection_bench: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  using S = lineage::SelectionStrategy;
  const std::vector<std::pair<std::string, S>> strategies = {
      {"dgm", S::kDgm}, {"hgm", S::kHgm}, {"score-prop", S::kScoreProp}, {"best", S::kBest}, {"random", S::kRandom}};
  std::map<std::string, Tally> tally;
  for (int seed = 1; seed <= args.seeds; ++seed) {
    std::vector<Sim> sims;
    for (std::size_t k = 0; k < strategies.size(); ++k) {
      sims.emplace_back(args, static_cast<std::uint64_t>(seed) * 1000 + k);
      std::mt19937_64 rng(static_cast<std::uint64_t>(seed) * 7919 + k);
      if (strategies[k].second == S::kHgm) RunHgm(sims.back(), args, rng);
      else RunDgm(sims.back(), args, strategies[k].second, rng);
    }
    double best = 0;  // p*: the best any strategy reached with this seed
    for (const Sim& s : sims) {
      for (const SimAgent& a : s.agents()) best = std::max(best, a.rate);
    }
    for (std::size_t k = 0; k < strategies.size(); ++k) {
      Tally& t = tally[strategies[k].first];
      const auto& trace = sims[k].trace();
      double when = args.budget;
      for (const auto& [cost, rate] : trace) {
        if (rate >= best - args.epsilon) {
          when = cost;
          ++t.found;
          break;
        }
      }
      t.to_epsilon += when / args.seeds;
      t.regret += (best - (trace.empty() ? 0.2 : trace.back().second)) / args.seeds;
      t.agents += static_cast<double>(sims[k].agents().size()) / args.seeds;
    }
  }
  std::printf("SIMULATION (hidden solve rates; not real agents): %d seeds, budget %.0f task runs, a child costs %.0f, "
              "epsilon %.2f, hgm alpha %.2f\n", args.seeds, args.budget, args.expansion_cost, args.epsilon, args.alpha);
  std::printf("%-11s %16s %8s %14s %8s\n", "strategy", "cost to eps-best", "found", "final regret", "agents");
  for (const auto& [name, strategy] : strategies) {
    const Tally& t = tally[name];
    std::printf("%-11s %16.0f %7.0f%% %14.3f %8.1f\n", name.c_str(), t.to_epsilon, 100.0 * t.found / args.seeds, t.regret,
                t.agents);
  }
  return 0;
}
