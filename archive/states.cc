// The agent and run state machines: names and transition tables, in one place.
#include <array>
#include <utility>

#include "archive/archive.h"

namespace lineage {
namespace {

using A = AgentState;
using R = RunState;

constexpr std::array<std::pair<A, const char*>, 7> kAgentNames = {{{A::kPending, "pending"},
                                                                   {A::kCommitted, "committed"},
                                                                   {A::kBuilt, "built"},
                                                                   {A::kEvaluating, "evaluating"},
                                                                   {A::kAdmitted, "admitted"},
                                                                   {A::kRejected, "rejected"},
                                                                   {A::kFailed, "failed"}}};

constexpr std::array<std::pair<R, const char*>, 8> kRunNames = {{{R::kQueued, "queued"},
                                                                 {R::kRunning, "running"},
                                                                 {R::kPausing, "pausing"},
                                                                 {R::kPaused, "paused"},
                                                                 {R::kStopping, "stopping"},
                                                                 {R::kStopped, "stopped"},
                                                                 {R::kFinished, "finished"},
                                                                 {R::kFailed, "failed"}}};

constexpr std::array<std::pair<A, A>, 9> kAgentMoves = {{
    {A::kPending, A::kCommitted},
    {A::kPending, A::kRejected},  // committed with an empty or unusable change
    {A::kPending, A::kFailed},    // its write was interrupted before the commit
    {A::kCommitted, A::kBuilt},
    {A::kCommitted, A::kRejected},  // its build failed
    {A::kBuilt, A::kEvaluating},
    {A::kBuilt, A::kRejected},
    {A::kEvaluating, A::kAdmitted},
    {A::kEvaluating, A::kRejected},  // lost its editing ability
}};

constexpr std::array<std::pair<R, R>, 20> kRunMoves = {{
    {R::kQueued, R::kRunning},    {R::kQueued, R::kPaused},     {R::kQueued, R::kStopped},
    {R::kQueued, R::kFailed},     {R::kRunning, R::kPausing},   {R::kRunning, R::kStopping},
    {R::kRunning, R::kPaused},    // the home's disk ran low
    {R::kRunning, R::kFinished},  {R::kRunning, R::kFailed},    {R::kPausing, R::kPaused},
    {R::kPausing, R::kRunning},   // resumed before the children in flight finished
    {R::kPausing, R::kStopping},  {R::kPausing, R::kFailed},    {R::kPaused, R::kQueued},
    {R::kPaused, R::kStopped},    {R::kStopping, R::kStopped},  {R::kStopping, R::kFailed},
    {R::kFailed, R::kQueued},     {R::kFailed, R::kStopped},
    {R::kFinished, R::kQueued},  // a budget raised: `lineage run resume RUN --cost-usd N`
}};

template <typename T, std::size_t N>
const char* NameIn(const std::array<std::pair<T, const char*>, N>& names, T state) {
  for (const auto& [s, name] : names) {
    if (s == state) return name;
  }
  return "unknown";
}

template <typename T, std::size_t N>
std::optional<T> ParseIn(const std::array<std::pair<T, const char*>, N>& names, std::string_view name) {
  for (const auto& [s, n] : names) {
    if (name == n) return s;
  }
  return std::nullopt;
}

template <typename T, std::size_t N>
bool In(const std::array<std::pair<T, T>, N>& moves, T from, T to) {
  for (const auto& [f, t] : moves) {
    if (f == from && t == to) return true;
  }
  return false;
}

}  // namespace

const char* StateName(AgentState state) { return NameIn(kAgentNames, state); }
const char* StateName(RunState state) { return NameIn(kRunNames, state); }
std::optional<AgentState> ParseAgentState(std::string_view name) { return ParseIn(kAgentNames, name); }
std::optional<RunState> ParseRunState(std::string_view name) { return ParseIn(kRunNames, name); }

bool MayFollow(AgentState from, AgentState to) { return In(kAgentMoves, from, to); }
bool MayFollow(RunState from, RunState to) { return In(kRunMoves, from, to); }

bool IsFinal(AgentState state) { return state == A::kAdmitted || state == A::kRejected || state == A::kFailed; }
bool IsFinal(RunState state) { return state == R::kStopped; }
bool HasEnded(RunState state) { return IsFinal(state) || state == R::kFinished || state == R::kFailed; }

}  // namespace lineage
