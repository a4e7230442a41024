// Shared by the built-in formats (internal to evaluators/): running tests on a copy of a finished
// workspace in a fresh sandbox, reading pass counts from test output, and finding toolchains.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/safe_tree.h"
#include "evaluators/evaluator.h"

namespace lineage {

struct TestRun {
  std::vector<TreeEntry> overlay;  // hidden tests and protected files, written over the workspace copy
  std::vector<std::string> argv;   // run in /workspace
  std::int64_t timeout_ms = 120'000;
  std::vector<SandboxMount> mounts;  // extra read-only paths the tests need
  std::string stdin_data;
};

// Reads `workspace` (safely: it is hostile), lays `run.overlay` over it in `context.scratch`/workspace and
// runs the command there in a fresh sandbox.
Result<SandboxResult> RunOnCopy(const std::filesystem::path& workspace, const TestRun& run, const ScoreContext& context);

// RunOnCopy, read as tests: solved when the command exits 0 in time.
Result<TaskScore> RunTests(const std::filesystem::path& workspace, const TestRun& run, const ScoreContext& context);

// The sandbox result as a TaskScore (exit 0 within limits = solved; output capped; partial from counts).
TaskScore ScoreFromResult(const SandboxResult& result);

// The fraction of test cases passed, read from pytest's or Catch2's summary, or a line "lineage-score: X";
// nullopt when the output says nothing countable.
std::optional<double> ParsePartialScore(const std::string& output);

// `tree` with `overlay` laid over it: same paths replaced; entries in the way of an overlay path (a file
// where the overlay needs a directory, or the reverse) removed.
std::vector<TreeEntry> LayOver(std::vector<TreeEntry> tree, const std::vector<TreeEntry>& overlay);

// True when `program` is an executable in a directory of the sandbox's PATH.
bool HasProgram(const std::string& program);

}  // namespace lineage

namespace lineage {

// Writes `entries` into `dir` (trusted: a workspace lineage just prepared), replacing files at the same
// paths and creating directories as needed.
Status WriteOver(const std::filesystem::path& dir, const std::vector<TreeEntry>& entries);

}  // namespace lineage
