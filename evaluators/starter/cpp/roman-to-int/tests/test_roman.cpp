#include "roman.h"
#include "check.h"

TEST(simple) {
  CHECK(roman_to_int("III") == 3);
  CHECK(roman_to_int("LVIII") == 58);
}
TEST(subtractive) {
  CHECK(roman_to_int("IV") == 4);
  CHECK(roman_to_int("MCMXCIV") == 1994);
  CHECK(roman_to_int("MMMCMXCIX") == 3999);
}
TEST(invalid) {
  CHECK_THROWS(roman_to_int(""), std::invalid_argument);
  CHECK_THROWS(roman_to_int("XIZ"), std::invalid_argument);
}
