#include "leap.h"
#include "test/catch.hpp"

TEST_CASE("year_not_divisible_by_4") { REQUIRE(!leap::is_leap_year(2015)); }
TEST_CASE("year_divisible_by_100_not_by_400") { REQUIRE(!leap::is_leap_year(1900)); }
TEST_CASE("year_divisible_by_400") { REQUIRE(leap::is_leap_year(2000)); }
TEST_CASE("year_divisible_by_4_not_by_100") { REQUIRE(leap::is_leap_year(1996)); }
