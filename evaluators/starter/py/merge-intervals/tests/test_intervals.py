from intervals import merge


def test_empty():
    assert merge([]) == []


def test_overlapping():
    assert merge([[1, 3], [2, 6], [8, 10], [15, 18]]) == [[1, 6], [8, 10], [15, 18]]


def test_touching_and_unsorted():
    assert merge([[4, 5], [1, 4]]) == [[1, 5]]
    assert merge([[5, 7], [1, 2], [2, 3], [6, 6]]) == [[1, 3], [5, 7]]


def test_contained():
    assert merge([[1, 10], [2, 3], [4, 5]]) == [[1, 10]]
