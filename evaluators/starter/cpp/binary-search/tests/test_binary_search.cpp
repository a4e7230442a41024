#include "binary_search.h"
#include "check.h"

TEST(empty) { CHECK(find({}, 3) == -1); }
TEST(found) {
  std::vector<int> v = {1, 3, 4, 6, 8, 9, 11};
  CHECK(find(v, 1) == 0);
  CHECK(find(v, 6) == 3);
  CHECK(find(v, 11) == 6);
}
TEST(absent) {
  std::vector<int> v = {1, 3, 4, 6, 8, 9, 11};
  CHECK(find(v, 0) == -1);
  CHECK(find(v, 7) == -1);
  CHECK(find(v, 12) == -1);
}
TEST(large) {
  std::vector<int> v;
  for (int i = 0; i < 1000000; ++i) v.push_back(2 * i);
  CHECK(find(v, 1999998) == 999999);
  CHECK(find(v, 1999999) == -1);
}
