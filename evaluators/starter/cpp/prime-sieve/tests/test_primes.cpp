#include "primes.h"
#include "check.h"

TEST(small) {
  CHECK(primes_up_to(1).empty());
  CHECK(primes_up_to(2) == std::vector<int>({2}));
  CHECK(primes_up_to(30) == std::vector<int>({2, 3, 5, 7, 11, 13, 17, 19, 23, 29}));
}
TEST(count) {
  CHECK(primes_up_to(10000).size() == 1229);
  CHECK(primes_up_to(10000000).size() == 664579);
}
