package main

import (
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	for _, minBytes := range []int{0, 10, 40, 41, 42, 200} {
		text := formatPayload("lg-abc-r1-s2-7", 1_700_000_000_123_456_789, minBytes)
		if len(text) < minBytes {
			t.Errorf("minBytes %d: text %q is %d bytes", minBytes, text, len(text))
		}
		if minBytes > 41 && len(text) != minBytes {
			t.Errorf("minBytes %d: padded to %d bytes, want exactly %d", minBytes, len(text), minBytes)
		}
		cid, ns, ok := parsePayload(text)
		if !ok || cid != "lg-abc-r1-s2-7" || ns != 1_700_000_000_123_456_789 {
			t.Errorf("minBytes %d: parsePayload(%q) = %q, %d, %v", minBytes, text, cid, ns, ok)
		}
	}
}

func TestParsePayloadRejects(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "hello", "lg|", "lg|id", "lg||5", "lg|id|x", "lg|id|", "LG|id|5", " lg|id|5"} {
		if _, _, ok := parsePayload(text); ok {
			t.Errorf("parsePayload(%q) accepted", text)
		}
	}
}

func TestClockIsMonotonicUnixTime(t *testing.T) {
	t.Parallel()
	c := newClock()
	a := c.Now()
	if d := time.Duration(a - time.Now().UnixNano()); d < -time.Second || d > time.Second {
		t.Errorf("clock is %v away from wall time", d)
	}
	if b := c.Now(); b < a {
		t.Errorf("clock went back: %d then %d", a, b)
	}
}
