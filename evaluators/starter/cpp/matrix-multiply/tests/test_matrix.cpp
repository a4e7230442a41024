#include "matrix.h"
#include "check.h"

TEST(square) { CHECK(multiply({{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}) == Matrix({{19, 22}, {43, 50}})); }
TEST(rectangular) { CHECK(multiply({{1, 2, 3}}, {{1}, {2}, {3}}) == Matrix({{14}})); }
TEST(empty) { CHECK(multiply({}, {}).empty()); }
TEST(mismatch) {
  CHECK_THROWS(multiply({{1, 2}}, {{1, 2}}), std::invalid_argument);
  CHECK_THROWS(multiply({{1, 2}, {3}}, {{1}, {2}}), std::invalid_argument);
}
