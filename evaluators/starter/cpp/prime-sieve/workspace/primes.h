#pragma once

#include <vector>

std::vector<int> primes_up_to(int n);
