// Replaying a recorded run with no model reachable.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"
#include "sandbox/sandbox.h"

namespace lineage {

// `lineage run replay RUN --to NEWHOME`: runs RUN again in a new home with the same configuration, seed
// agent and random seed, every model call (diagnoses, self-modifications, the agents' task runs) answered
// from RUN's recorded responses, so no provider is called or needs a key. A recorded call is found by its
// place in the run: its agent, purpose, task, and its index among that agent's calls for that purpose and
// task. Its request is compared with the recorded one: a difference only in what varies from run to run
// (timings, temporary paths, process ids, clock times) is a note; any other, or a call never recorded, stops
// the replay at that call, which the report names with a diff of the two requests.
struct ReplayOptions {
  std::filesystem::path to;          // a home with no run in it (created when missing)
  Sandbox* sandbox = nullptr;
  std::atomic<bool>* stop = nullptr;  // set by the caller to stop; set by the replay when it diverges
  std::function<void(const std::string&)> on_progress;
  bool allow_exec = false;  // run an exec suite the stored configuration names (its program runs on the host)
};
struct ReplayReport {
  RunId run = 0;                         // the replay, in the new home
  RunState state = RunState::kQueued;    // how it ended
  std::string divergence;                // empty: none; else the first divergent call and the diff
  std::vector<std::string> notes;        // calls whose requests differed only in what varies
  std::vector<std::string> differences;  // agents that ended otherwise than recorded; empty: the same tree
  int agents = 0;                        // compared
  std::int64_t calls = 0;                // answered from the record
};
Result<ReplayReport> ReplayRun(Archive& source, RunId run, const ReplayOptions& options);

}  // namespace lineage
