#include "matrix.h"

namespace {
void CheckRect(const Matrix& m) {
  for (const auto& row : m) {
    if (row.size() != m[0].size()) throw std::invalid_argument("ragged matrix");
  }
}
}  // namespace

Matrix multiply(const Matrix& a, const Matrix& b) {
  if (a.empty() || b.empty()) {
    if (a.empty() && b.empty()) return {};
    throw std::invalid_argument("shape mismatch");
  }
  CheckRect(a);
  CheckRect(b);
  if (a[0].size() != b.size()) throw std::invalid_argument("shape mismatch");
  Matrix out(a.size(), std::vector<long long>(b[0].size(), 0));
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t k = 0; k < b.size(); ++k)
      for (size_t j = 0; j < b[0].size(); ++j) out[i][j] += a[i][k] * b[k][j];
  return out;
}
