package hostsdk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/limits"
)

// FuzzDecodeSendRequest checks that the send decoder never panics, that
// what it accepts is one well-formed object with the known fields and
// valid values, and that it refuses anything followed by more data.
func FuzzDecodeSendRequest(f *testing.F) {
	for _, seed := range []string{
		`{"text":"hello","client_id":"c1"}`,
		`{"text":"hi","client_id":"a"} `,
		`{"text":"hi","client_id":"a"}{}`,
		`{"text":"hi","client_id":"a","x":1}`,
		`{"TEXT":"hi","Client_ID":"a"}`,
		`{"text":"\u0000\ud800","client_id":"\u2028"}`,
		`{"text":"` + strings.Repeat("é", 50) + `","client_id":"` + strings.Repeat("z", 128) + `"}`,
		`null`, `[]`, `"text"`, `{"text":null,"client_id":null}`, "\xff\xfe", ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeSendRequest(bytes.NewReader(body))
		if err != nil {
			if req != (sendRequest{}) {
				t.Fatalf("refused body returned a request: %+v", req)
			}
			if classify(err).status != 400 {
				t.Fatalf("refusal %v is not a 400", err)
			}
			return
		}
		if strings.TrimSpace(req.Text) == "" || req.ClientID == "" || len(req.ClientID) > limits.ClientIDBytes {
			t.Fatalf("accepted invalid values: %+v", req)
		}
		if !utf8.ValidString(req.Text) || !utf8.ValidString(req.ClientID) {
			t.Fatalf("accepted invalid UTF-8: %+v", req)
		}
		// Accepted input is exactly one JSON value, an object.
		if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
			t.Fatalf("accepted %q, which is not one JSON object", body)
		}
		// Appending a second value must turn acceptance into refusal.
		if _, err := decodeSendRequest(bytes.NewReader(append(append([]byte{}, body...), `{}`...))); err == nil {
			t.Fatalf("accepted %q followed by more data", body)
		}
	})
}

// FuzzParseLastEventID checks that resume positions are plain decimal
// uint64s and nothing else.
func FuzzParseLastEventID(f *testing.F) {
	for _, seed := range []string{"0", "1", "42", "007", "18446744073709551615", "18446744073709551616", "-1", "+1", " 1", "1\n", "0x1f", "１", "", "\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSeq(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("parseSeq(%q) failed but returned %d", s, n)
			}
			return
		}
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			t.Fatalf("parseSeq accepted %q", s)
		}
		want := strings.TrimLeft(s, "0")
		if want == "" {
			want = "0"
		}
		if got := strconv.FormatUint(n, 10); got != want {
			t.Fatalf("parseSeq(%q) = %d", s, n)
		}
	})
}

// FuzzDecodeBanRequest checks that the ban decoder never panics, answers
// every refusal with 400, and accepts only one object with a valid user id
// and an RFC 3339 end or none.
func FuzzDecodeBanRequest(f *testing.F) {
	for _, seed := range []string{
		`{"user_id":"bob","reason":"spam","expires":"2026-12-31T18:00:00Z"}`,
		`{"user_id":"bob"}`,
		`{"user_id":"","expires":""}`,
		`{"user_id":"bob","expires":"tomorrow"}`,
		`{"user_id":"bob","expires":"2026-02-30T00:00:00+25:00"}`,
		`{"user_id":"\ud800"}`,
		`{"user_id":"bob","until":"x"}`,
		`{"user_id":"bob"}{}`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req userActionRequest
		err := decodeStrict(bytes.NewReader(body), &req)
		var end time.Time
		if err == nil {
			end, err = req.banEnd()
		}
		if err != nil {
			if classify(err).status != 400 {
				t.Fatalf("refusal %v is not a 400", err)
			}
			return
		}
		if req.UserID == "" || len(req.UserID) > limits.UserIDBytes || !utf8.ValidString(req.UserID) {
			t.Fatalf("accepted user id %q", req.UserID)
		}
		if (req.Expires == "") != end.IsZero() {
			t.Fatalf("expires %q gave end %v", req.Expires, end)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted %q, which is not JSON", body)
		}
	})
}
