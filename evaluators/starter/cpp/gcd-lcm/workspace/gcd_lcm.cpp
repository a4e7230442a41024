#include "gcd_lcm.h"

long long gcd(long long a, long long b) { return 0; }
long long lcm(long long a, long long b) { return 0; }
