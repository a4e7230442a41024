#include "roman.h"

namespace {
int Digit(char c) {
  switch (c) {
    case 'I': return 1;
    case 'V': return 5;
    case 'X': return 10;
    case 'L': return 50;
    case 'C': return 100;
    case 'D': return 500;
    case 'M': return 1000;
  }
  throw std::invalid_argument(std::string("not a Roman digit: ") + c);
}
}  // namespace

int roman_to_int(const std::string& numeral) {
  if (numeral.empty()) throw std::invalid_argument("empty numeral");
  int total = 0;
  for (size_t i = 0; i < numeral.size(); ++i) {
    int v = Digit(numeral[i]);
    if (i + 1 < numeral.size() && v < Digit(numeral[i + 1])) total -= v;
    else total += v;
  }
  return total;
}
