#pragma once

#include <stdexcept>
#include <string>

int roman_to_int(const std::string& numeral);
