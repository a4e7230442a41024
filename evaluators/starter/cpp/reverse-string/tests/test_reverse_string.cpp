#include "reverse_string.h"
#include "check.h"

TEST(empty) { CHECK(reverse_string("").empty()); }
TEST(words) {
  CHECK(reverse_string("robot") == "tobor");
  CHECK(reverse_string("Ramen") == "nemaR");
  CHECK(reverse_string("a b") == "b a");
}
