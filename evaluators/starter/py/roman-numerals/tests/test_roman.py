import pytest

from roman import to_roman


def test_small():
    assert [to_roman(i) for i in range(1, 11)] == ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]


def test_subtractive():
    assert to_roman(40) == "XL"
    assert to_roman(90) == "XC"
    assert to_roman(400) == "CD"
    assert to_roman(944) == "CMXLIV"


def test_large():
    assert to_roman(1994) == "MCMXCIV"
    assert to_roman(3999) == "MMMCMXCIX"


def test_out_of_range():
    for bad in (0, -1, 4000):
        with pytest.raises(ValueError):
            to_roman(bad)
