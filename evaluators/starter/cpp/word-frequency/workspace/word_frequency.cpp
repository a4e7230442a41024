#include "word_frequency.h"

std::map<std::string, int> count_words(const std::string& text) { return {}; }
