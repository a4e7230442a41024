#include "matrix.h"

Matrix multiply(const Matrix& a, const Matrix& b) { return {}; }
