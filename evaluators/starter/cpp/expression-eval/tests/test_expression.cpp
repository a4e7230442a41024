#include "expression.h"
#include "check.h"

TEST(precedence) {
  CHECK(evaluate("2+3*4") == 14);
  CHECK(evaluate("2 * 3 + 4") == 10);
  CHECK(evaluate("10 - 4 - 3") == 3);
  CHECK(evaluate("100 / 10 / 5") == 2);
}
TEST(parentheses_and_unary) {
  CHECK(evaluate("2+3*(4-1)") == 11);
  CHECK(evaluate("-(2+3)") == -5);
  CHECK(evaluate("-7 / 2") == -3);
  CHECK(evaluate("((42))") == 42);
}
TEST(malformed) {
  CHECK_THROWS(evaluate(""), std::invalid_argument);
  CHECK_THROWS(evaluate("2+"), std::invalid_argument);
  CHECK_THROWS(evaluate("(1"), std::invalid_argument);
  CHECK_THROWS(evaluate("1 2"), std::invalid_argument);
  CHECK_THROWS(evaluate("1/0"), std::invalid_argument);
}
