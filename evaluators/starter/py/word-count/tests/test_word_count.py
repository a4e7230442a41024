from word_count import word_count


def test_simple():
    assert word_count("one fish two fish") == {"one": 1, "fish": 2, "two": 1}


def test_case_and_punctuation():
    assert word_count("Go, go! GO?") == {"go": 3}


def test_apostrophes():
    assert word_count("don't stop 'believing' don't") == {"don't": 2, "stop": 1, "believing": 1}


def test_numbers():
    assert word_count("1 2 2, testing") == {"1": 1, "2": 2, "testing": 1}


def test_empty():
    assert word_count(" ,;") == {}
