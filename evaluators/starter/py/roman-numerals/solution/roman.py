_TABLE = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n):
    if not isinstance(n, int) or n < 1 or n > 3999:
        raise ValueError("out of range")
    out = ""
    for value, letters in _TABLE:
        while n >= value:
            out += letters
            n -= value
    return out
