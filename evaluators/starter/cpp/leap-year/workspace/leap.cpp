#include "leap.h"

bool is_leap(int year) { return false; }
