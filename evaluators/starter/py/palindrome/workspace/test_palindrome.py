from palindrome import is_palindrome


def test_plain():
    assert is_palindrome("racecar")
    assert not is_palindrome("lineage")


def test_case_and_punctuation():
    assert is_palindrome("A man, a plan, a canal: Panama!")
    assert not is_palindrome("ab, BA c")


def test_digits():
    assert is_palindrome("12 3 21")
    assert not is_palindrome("123")


def test_empty():
    assert is_palindrome("")
    assert is_palindrome("!!")
