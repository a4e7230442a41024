#include "binary_search.h"

int find(const std::vector<int>& v, int value) { return -1; }
