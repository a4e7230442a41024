#pragma once

int sum_digits(long long n);
