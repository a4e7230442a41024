package leap

import "testing"

func TestLeap(t *testing.T) {
	if !IsLeapYear(2000) {
		t.Fatal("2000")
	}
}
