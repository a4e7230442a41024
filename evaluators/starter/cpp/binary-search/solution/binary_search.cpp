#include "binary_search.h"

int find(const std::vector<int>& v, int value) {
  int lo = 0, hi = static_cast<int>(v.size()) - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (v[mid] == value) return mid;
    if (v[mid] < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
