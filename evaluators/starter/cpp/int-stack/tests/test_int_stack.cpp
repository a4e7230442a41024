#include "int_stack.h"
#include "check.h"

TEST(push_pop) {
  IntStack s;
  CHECK(s.empty());
  s.push(1);
  s.push(2);
  CHECK(s.size() == 2);
  CHECK(s.top() == 2);
  CHECK(s.pop() == 2);
  CHECK(s.pop() == 1);
  CHECK(s.empty());
}
TEST(empty_throws) {
  IntStack s;
  CHECK_THROWS(s.pop(), std::out_of_range);
  CHECK_THROWS(s.top(), std::out_of_range);
}
