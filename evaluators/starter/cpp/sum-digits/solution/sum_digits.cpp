#include "sum_digits.h"

int sum_digits(long long n) {
  unsigned long long v = n < 0 ? 0ull - static_cast<unsigned long long>(n) : n;
  int sum = 0;
  for (; v > 0; v /= 10) sum += static_cast<int>(v % 10);
  return sum;
}
