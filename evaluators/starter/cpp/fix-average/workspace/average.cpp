#include "average.h"

double average(const std::vector<int>& values) {
  int sum = 0;
  for (int v : values) sum += v;
  return sum / static_cast<int>(values.size());
}
