import pytest

from rpn import evaluate


def test_basic():
    assert evaluate("3 4 + 2 *") == 14
    assert evaluate("5 1 2 + 4 * + 3 -") == 14
    assert evaluate("-3 2 *") == -6


def test_division_truncates_toward_zero():
    assert evaluate("7 2 /") == 3
    assert evaluate("-7 2 /") == -3
    assert evaluate("7 -2 /") == -3


def test_errors():
    for bad in ["", "1 +", "1 2", "1 2 x", "+"]:
        with pytest.raises(ValueError):
            evaluate(bad)
    with pytest.raises(ZeroDivisionError):
        evaluate("1 0 /")
