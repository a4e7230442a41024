from fizzbuzz import fizzbuzz


def test_empty():
    assert fizzbuzz(0) == []


def test_first_five():
    assert fizzbuzz(5) == ["1", "2", "Fizz", "4", "Buzz"]


def test_fifteen():
    assert fizzbuzz(15)[-1] == "FizzBuzz"
    assert fizzbuzz(15)[8] == "Fizz"


def test_length():
    assert len(fizzbuzz(100)) == 100
