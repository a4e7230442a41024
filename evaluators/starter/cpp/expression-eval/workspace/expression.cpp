#include "expression.h"

long long evaluate(const std::string& expression) { return 0; }
