package allskipped

import "testing"

// Both tests skip with one reason, as a suite does without its browser.
func TestOne(t *testing.T) { t.Skip("no browser here") }

func TestTwo(t *testing.T) { t.Skip("no browser here") }
