#include "leap.h"
#include "check.h"

TEST(common_years) {
  CHECK(!is_leap(2015));
  CHECK(!is_leap(1900));
  CHECK(!is_leap(2100));
}
TEST(leap_years) {
  CHECK(is_leap(1996));
  CHECK(is_leap(2000));
  CHECK(is_leap(2024));
}
