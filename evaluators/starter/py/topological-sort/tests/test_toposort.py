import pytest

from toposort import order


def test_chain():
    assert order({"c": ["b"], "b": ["a"]}) == ["a", "b", "c"]


def test_alphabetical_ties():
    assert order({"z": [], "y": [], "x": ["z"]}) == ["y", "z", "x"]


def test_diamond():
    assert order({"d": ["b", "c"], "b": ["a"], "c": ["a"]}) == ["a", "b", "c", "d"]


def test_cycle():
    with pytest.raises(ValueError):
        order({"a": ["b"], "b": ["a"]})
