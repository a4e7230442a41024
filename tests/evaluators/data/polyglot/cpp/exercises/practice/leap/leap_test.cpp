#include <cstdio>

#include "leap.h"

int main() {
  int failed = 0;
  failed += leap::is_leap_year(2015) != false;
  failed += leap::is_leap_year(1900) != false;
  failed += leap::is_leap_year(2000) != true;
  failed += leap::is_leap_year(1996) != true;
  std::printf("%d failed\n", failed);
  return failed != 0;
}
