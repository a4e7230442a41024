from brackets import balanced


def test_balanced():
    assert balanced("")
    assert balanced("([]{})")
    assert balanced("{ x = [1, (2)] }")


def test_unbalanced():
    assert not balanced("(")
    assert not balanced(")(")
    assert not balanced("([)]")
    assert not balanced("{[}")
