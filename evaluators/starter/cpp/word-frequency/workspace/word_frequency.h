#pragma once

#include <map>
#include <string>

std::map<std::string, int> count_words(const std::string& text);
