from spiral import spiral


def test_empty_and_one():
    assert spiral(0) == []
    assert spiral(1) == [[1]]


def test_three():
    assert spiral(3) == [[1, 2, 3], [8, 9, 4], [7, 6, 5]]


def test_four():
    assert spiral(4) == [[1, 2, 3, 4], [12, 13, 14, 5], [11, 16, 15, 6], [10, 9, 8, 7]]
