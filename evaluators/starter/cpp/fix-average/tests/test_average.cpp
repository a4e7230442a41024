#include "average.h"
#include "check.h"

TEST(exact) {
  CHECK(average({1, 2}) == 1.5);
  CHECK(average({-1, -2}) == -1.5);
  CHECK(average({4}) == 4.0);
}
TEST(empty) { CHECK(average({}) == 0.0); }
TEST(no_overflow) { CHECK(average({2000000000, 2000000000}) == 2000000000.0); }
