#include "word_frequency.h"
#include "check.h"

TEST(simple) {
  auto c = count_words("one fish two fish");
  CHECK(c.size() == 3);
  CHECK(c["fish"] == 2);
  CHECK(c["one"] == 1);
}
TEST(case_and_separators) {
  auto c = count_words("Go,go!GO... stop");
  CHECK(c["go"] == 3);
  CHECK(c["stop"] == 1);
  CHECK(c.size() == 2);
}
TEST(empty) { CHECK(count_words(" ,;").empty()); }
