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
		cid, ns, ok := parsePayload([]byte(text))
		if !ok || string(cid) != "lg-abc-r1-s2-7" || ns != 1_700_000_000_123_456_789 {
			t.Errorf("minBytes %d: parsePayload(%q) = %q, %d, %v", minBytes, text, cid, ns, ok)
		}
	}
}

func TestParsePayloadRejects(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "hello", "lg|", "lg|id", "lg||5", "lg|id|x", "lg|id|", "LG|id|5", " lg|id|5"} {
		if _, _, ok := parsePayload([]byte(text)); ok {
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

func TestFastMessage(t *testing.T) {
	t.Parallel()
	payload := formatPayload("lg-x-r1-s1-7", 1234567890, 0)
	tests := []struct {
		name   string
		ev     sseEvent
		ok     bool
		seq    int64
		client string
	}{
		{"own message", sseEvent{ID: "42", Data: []byte(`{"seq":42,"client_id":"lg-x-r1-s1-7","text":"` + payload + `","html":"x"}`)}, true, 42, "lg-x-r1-s1-7"},
		{"no id", sseEvent{Data: []byte(`{"seq":42,"text":"` + payload + `"}`)}, false, 0, ""},
		{"someone else's text", sseEvent{ID: "3", Data: []byte(`{"seq":3,"text":"hello"}`)}, false, 0, ""},
		{"escaped text", sseEvent{ID: "3", Data: []byte(`{"seq":3,"text":"lg|a\"b|1"}`)}, false, 0, ""},
		{"unterminated", sseEvent{ID: "3", Data: []byte(`{"seq":3,"text":"lg|a|1`)}, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seq, text, ok := fastMessage(tt.ev)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			cid, sent, pok := parsePayload(text)
			if seq != tt.seq || !pok || string(cid) != tt.client || sent != 1234567890 {
				t.Fatalf("got seq %d text %q (client %q, sent %d)", seq, text, cid, sent)
			}
		})
	}
}
