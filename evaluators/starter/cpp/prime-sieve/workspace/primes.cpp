#include "primes.h"

std::vector<int> primes_up_to(int n) { return {}; }
