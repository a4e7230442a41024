// Reading test output and laying hidden files over a workspace.
#include <catch2/catch.hpp>

#include "evaluators/scoring.h"

namespace lineage {
namespace {

TEST_CASE("partial scores come from pytest, Catch2 and explicit summaries") {
  CHECK(*ParsePartialScore("....\n3 passed, 1 failed in 0.05s\n") == Approx(0.75));
  CHECK(*ParsePartialScore("===== 1 failed, 1 passed, 2 errors in 1.2s =====") == Approx(0.25));
  CHECK(*ParsePartialScore("5 passed in 0.01s") == Approx(1.0));
  CHECK(*ParsePartialScore("test cases: 4 | 1 passed | 3 failed") == Approx(0.25));
  CHECK(*ParsePartialScore("All tests passed (12 assertions in 5 test cases)") == Approx(1.0));
  CHECK(*ParsePartialScore("noise\nlineage-score: 0.6\n") == Approx(0.6));
  CHECK_FALSE(ParsePartialScore("error: expected ';' before '}' token").has_value());
}

TEST_CASE("a failed run never reports a full partial score, and a passing one does") {
  SandboxResult failed;
  failed.exit_code = 2;
  failed.stdout_text = "5 passed in 0.01s\n";
  CHECK_FALSE(ScoreFromResult(failed).partial.has_value());
  CHECK_FALSE(ScoreFromResult(failed).solved);
  SandboxResult passed;
  passed.exit_code = 0;
  CHECK(ScoreFromResult(passed).solved);
  CHECK(*ScoreFromResult(passed).partial == 1.0);
  SandboxResult slow;
  slow.limit = SandboxLimit::kWall;
  CHECK(ScoreFromResult(slow).timed_out);
  CHECK_THAT(ScoreFromResult(slow).output, Catch::Contains("wall limit"));
}

TEST_CASE("laying files over a tree replaces them and clears what is in the way") {
  std::vector<TreeEntry> tree = {{"a.py", TreeEntry::Kind::kFile, "agent"},
                                 {"tests", TreeEntry::Kind::kFile, "a file where a directory belongs"},
                                 {"keep.txt", TreeEntry::Kind::kFile, "kept"},
                                 {"x/y.txt", TreeEntry::Kind::kFile, "under a path the overlay makes a file"}};
  std::vector<TreeEntry> overlay = {{"a.py", TreeEntry::Kind::kFile, "pristine"},
                                    {"tests/t.py", TreeEntry::Kind::kFile, "hidden"},
                                    {"x", TreeEntry::Kind::kFile, "file"}};
  auto out = LayOver(tree, overlay);
  std::map<std::string, std::string> by_path;
  for (const TreeEntry& e : out) by_path[e.path] = e.data;
  CHECK(by_path == std::map<std::string, std::string>{
                       {"a.py", "pristine"}, {"keep.txt", "kept"}, {"tests/t.py", "hidden"}, {"x", "file"}});
}

}  // namespace
}  // namespace lineage
