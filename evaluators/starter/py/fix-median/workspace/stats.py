def median(values):
    if not values:
        raise ValueError("median of an empty list")
    return values[len(values) // 2]
