#pragma once

#include <vector>

double average(const std::vector<int>& values);
