#include "base/status.h"

#include <catch2/catch.hpp>

namespace lineage {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("value " + std::to_string(x) + " is odd; give an even number");
  return x / 2;
}

Result<int> Quarter(int x) {
  LINEAGE_ASSIGN_OR_RETURN(int half, Half(x));
  return Half(half);
}

TEST_CASE("Status carries its code and message") {
  CHECK(Status::OK().ok());
  Status s = Status::NotFound("agent 7 does not exist");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Status::Code::kNotFound);
  CHECK(s.ToString() == "not found: agent 7 does not exist");
  CHECK(s.WithContext("show").message() == "show: agent 7 does not exist");
  CHECK(s.WithContext("show").code() == Status::Code::kNotFound);
}

TEST_CASE("user errors are told apart from internal ones") {
  CHECK(Status::InvalidArgument("x").IsUserError());
  CHECK(Status::NotFound("x").IsUserError());
  CHECK(Status::AlreadyExists("x").IsUserError());
  CHECK(Status::FailedPrecondition("x").IsUserError());
  CHECK_FALSE(Status::IOError("x").IsUserError());
  CHECK_FALSE(Status::Corruption("x").IsUserError());
  CHECK_FALSE(Status::Internal("x").IsUserError());
}

TEST_CASE("Result propagates errors through LINEAGE_ASSIGN_OR_RETURN") {
  REQUIRE(Quarter(8).ok());
  CHECK(*Quarter(8) == 2);
  auto odd = Quarter(6);  // 6 -> 3 -> odd
  REQUIRE_FALSE(odd.ok());
  CHECK(odd.status().message() == "value 3 is odd; give an even number");
}

}  // namespace
}  // namespace lineage
