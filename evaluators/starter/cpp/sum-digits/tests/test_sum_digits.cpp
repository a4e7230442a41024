#include "sum_digits.h"
#include "check.h"

TEST(zero) { CHECK(sum_digits(0) == 0); }
TEST(positive) {
  CHECK(sum_digits(7) == 7);
  CHECK(sum_digits(123) == 6);
  CHECK(sum_digits(9999999999LL) == 90);
}
TEST(negative) { CHECK(sum_digits(-123) == 6); }
