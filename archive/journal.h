// The journal: the events that later steps read back, one struct per kind with its encoding and decoding
// side by side. Replay rebuilds a run's children from them, `show` what a child cost, and a daemon when to
// retry a paused run: a key renamed here is renamed for writer and reader alike, and a reader cannot ask
// for a key the writer does not write.
//
// Events stay JSON objects in `events.data_json` (docs/archive.md); these structs are their schema.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "archive/archive.h"

namespace lineage::journal {

// "diagnosis": the diagnosis that made a run's child, recorded when it was answered.
struct Diagnosis {
  static constexpr const char* kKind = "diagnosis";
  AgentId parent = 0;
  std::string problem;     // what it learnt from: "failed_task", "empty_patches", ...
  std::string task;        // and on which task, if any
  std::string proposal;    // the diagnosis's improvement_proposal
  std::string calls_task;  // the task its model calls are recorded under ("child 3")

  std::string Encode() const;
  static std::optional<Diagnosis> Decode(const Event& event);
};

// The extra data of the event that records a child's commit ("agent.committed", or "agent.rejected" for a
// child rejected as it was committed): which attempt made it, and the task the calls that made it are
// recorded under.
struct ChildMade {
  int attempt = 0;
  std::string calls_task;

  std::string Encode() const;
  // The data of `event` when it is a child's commit event and says so; nothing otherwise.
  static std::optional<ChildMade> Decode(const Event& event);
};

// The data of a run.<state> event that the loop writes when it ends or pauses ("run.paused", ...): why,
// with `fault` and `retry_at` (Unix ms) when the world's faults paused it and a daemon retries by itself.
struct RunEnded {
  int children_made = 0;
  std::string reason;
  bool fault = false;
  std::int64_t retry_at = 0;

  std::string Encode() const;
  static std::optional<RunEnded> Decode(const Event& event);
};

// "final": a final stage done, on [[final]] table `table` (1-based; 0 for `lineage run final`). Its other
// keys (the suite, the agents and their held-out scores) are for people: `run final` prints them as they are.
struct FinalDone {
  static constexpr const char* kKind = "final";
  int table = 0;

  // The event's data: `details` (a JSON object) with the table set.
  std::string Encode(const std::string& details) const;
  static std::optional<FinalDone> Decode(const Event& event);
};

// Where a run came from: a fork of an agent of another run, or a replay of a recorded run.
struct RunOrigin {
  enum class Kind { kNone /* started from a file */, kFork, kReplay };
  Kind kind = Kind::kNone;
  RunId run = 0;      // the run forked or replayed
  AgentId agent = 0;  // kFork: the agent forked from
  std::string home;   // kReplay: the recorded run's home

  bool replay() const { return kind == Kind::kReplay; }
  // {"kind": "fork", "run": R, "agent": A} or {"kind": "replay", "run": R, "home": H}; "null" for kNone.
  std::string Encode() const;
};

// runs.config: a run's configuration as it was given (the TOML text and where it was read from), what
// changed since (a models file that replaced its models, budgets raised), and where the run came from.
struct StoredConfig {
  std::string source, base_dir, text;
  std::string models_override, models_override_text;  // `--models FILE`: its name and its text
  struct Raised {  // `run resume --children N` and the like: they stand over the text's
    std::optional<int> children;
    std::optional<double> cost_usd;
    std::optional<std::int64_t> tokens, task_evaluations;
    std::string Encode() const;  // {"children": N, ...}, the budgets raised only
  } raised;
  RunOrigin origin;
  // Keys this lineage does not know (a newer one wrote them), each as its JSON text: kept as they were.
  std::map<std::string, std::string> unknown;

  std::string Encode() const;
  // nullopt when `runs_config` holds no configuration text.
  static std::optional<StoredConfig> Decode(const std::string& runs_config);
};

}  // namespace lineage::journal
