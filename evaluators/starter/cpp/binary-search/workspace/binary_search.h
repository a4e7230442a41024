#pragma once

#include <vector>

int find(const std::vector<int>& v, int value);
