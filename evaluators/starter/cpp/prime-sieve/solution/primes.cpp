#include "primes.h"

std::vector<int> primes_up_to(int n) {
  std::vector<int> primes;
  if (n < 2) return primes;
  std::vector<bool> composite(n + 1, false);
  for (long long i = 2; i <= n; ++i) {
    if (composite[i]) continue;
    primes.push_back(static_cast<int>(i));
    for (long long j = i * i; j <= n; j += i) composite[j] = true;
  }
  return primes;
}
