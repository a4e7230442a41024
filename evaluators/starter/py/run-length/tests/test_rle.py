from rle import decode, encode


def test_encode():
    assert encode("") == ""
    assert encode("abc") == "abc"
    assert encode("aaab") == "3ab"
    assert encode("WWWWWWWWWWWWBWWWWWWWWWWWWBBBWWWWWWWWWWWWWWWWWWWWWWWWB") == "12WB12W3B24WB"
    assert encode("  hsqq qww  ") == "2 hs2q q2w2 "


def test_decode():
    assert decode("") == ""
    assert decode("3ab") == "aaab"
    assert decode("12WB12W3B24WB") == "WWWWWWWWWWWWBWWWWWWWWWWWWBBBWWWWWWWWWWWWWWWWWWWWWWWWB"


def test_round_trip():
    for s in ["zzz ZZ  zZ", "a", "aabbbcccc  d"]:
        assert decode(encode(s)) == s
