package mixed

import "testing"

func TestPasses(t *testing.T) {}

func TestFails(t *testing.T) {
	t.Log("a log line before the failure")
	t.Error("the failure itself")
}

func TestSkipsWithTwoLines(t *testing.T) {
	t.Log("not the reason")
	t.Skip("first line of the reason\nsecond line")
}

func TestSubtests(t *testing.T) {
	t.Run("passes", func(t *testing.T) {})
	t.Run("skips", func(t *testing.T) { t.Skip("a subtest's reason") })
}
