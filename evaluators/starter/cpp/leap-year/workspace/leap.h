#pragma once

bool is_leap(int year);
