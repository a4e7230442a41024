from reverse_words import reverse_words


def test_simple():
    assert reverse_words("hello world") == "world hello"


def test_whitespace():
    assert reverse_words("  a   b\tc \n") == "c b a"


def test_empty():
    assert reverse_words("") == ""
    assert reverse_words("   ") == ""


def test_single():
    assert reverse_words("lineage") == "lineage"
