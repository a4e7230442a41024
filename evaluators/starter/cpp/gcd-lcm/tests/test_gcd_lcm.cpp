#include "gcd_lcm.h"
#include "check.h"

TEST(gcd_values) {
  CHECK(gcd(12, 18) == 6);
  CHECK(gcd(17, 5) == 1);
  CHECK(gcd(0, 9) == 9);
  CHECK(gcd(0, 0) == 0);
}
TEST(lcm_values) {
  CHECK(lcm(4, 6) == 12);
  CHECK(lcm(21, 6) == 42);
  CHECK(lcm(5, 0) == 0);
  CHECK(lcm(1000000007LL, 998244353LL) == 1000000007LL * 998244353LL);
}
