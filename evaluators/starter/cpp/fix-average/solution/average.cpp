#include "average.h"

double average(const std::vector<int>& values) {
  if (values.empty()) return 0.0;
  long long sum = 0;
  for (int v : values) sum += v;
  return static_cast<double>(sum) / static_cast<double>(values.size());
}
