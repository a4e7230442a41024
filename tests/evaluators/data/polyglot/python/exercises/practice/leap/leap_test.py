import unittest

from leap import leap_year


class LeapTest(unittest.TestCase):
    def test_common(self):
        self.assertIs(leap_year(2015), False)

    def test_century(self):
        self.assertIs(leap_year(1900), False)

    def test_leap(self):
        self.assertIs(leap_year(2000), True)
        self.assertIs(leap_year(1996), True)
