#include "roman.h"

int roman_to_int(const std::string& numeral) { return 0; }
