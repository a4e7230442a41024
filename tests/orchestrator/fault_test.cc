// The world's faults are not the agent's, tried exhaustively: every fault kind the fake model server
// injects, at every step of a run (the seed's evaluation, a diagnosis, a self-modification, a child's
// evaluation), shorter than the run's patience. Every run ends with the tree of the same run without the
// outage. (loop_test.cc tries one kind per step, in the fast tier.)
#include <catch2/catch.hpp>

#include "tests/orchestrator/fast_world.h"

namespace lineage {
namespace {


TEST_CASE("every fault kind at every step of a run leaves the tree as it is without it") {
  const std::vector<std::string> modes = {"good", "noop", "good", "empty"};
  const std::vector<std::string> expected = test::CalmTree(modes, 4);
  REQUIRE(expected.size() == 4);
  // Requests, in order: the seed's three tasks (0-2), the first child's diagnosis (3), its parent's
  // self-modification (4) and its own tasks (5-7).
  const std::vector<std::pair<int, std::string>> steps = {{0, "the seed's evaluation"}, {3, "a diagnosis"},
                                                          {4, "a self-modification"}, {5, "a child's evaluation"}};
  for (const char* kind : {"server_error", "overloaded", "rate_limit", "drop", "auth", "malformed", "truncate"}) {
    for (const auto& [after, step] : steps) {
      INFO("an outage of 3 requests (" << kind << ") from " << step);
      test::CheckOutageChangesNothing(modes, 4, after, kind, expected);
    }
  }
}

}  // namespace
}  // namespace lineage
