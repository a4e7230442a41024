#pragma once

#include <stdexcept>
#include <vector>

using Matrix = std::vector<std::vector<long long>>;

Matrix multiply(const Matrix& a, const Matrix& b);
