#pragma once

#include <stdexcept>
#include <string>

long long evaluate(const std::string& expression);
