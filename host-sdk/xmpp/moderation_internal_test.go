package xmpp

import "testing"

func TestRetractionOfAndStanzaIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw    string
		id     string
		isRetr bool
	}{
		{`<message><retract xmlns='urn:xmpp:message-retract:1' id='42'/><body>fallback</body></message>`, "42", true},
		{`<message><apply-to xmlns='urn:xmpp:fasten:0' id='o-1'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to></message>`, "o-1", true},
		// A fastening of something else, or a retract in another
		// namespace, is not a retraction.
		{`<message><apply-to xmlns='urn:xmpp:fasten:0' id='o-1'><reaction xmlns='urn:xmpp:reactions:0'/></apply-to><body>x</body></message>`, "", false},
		{`<message><retract xmlns='urn:example' id='1'/><body>x</body></message>`, "", false},
		{`<message><body>retract</body></message>`, "", false},
	}
	for _, tc := range tests {
		e, err := parseElem([]byte(tc.raw))
		if err != nil {
			t.Fatal(err)
		}
		id, ok := retractionOf(e)
		if ok != tc.isRetr || id != tc.id {
			t.Errorf("retractionOf(%s) = %q, %v; want %q, %v", tc.raw, id, ok, tc.id, tc.isRetr)
		}
	}
	for id, want := range map[string]uint64{"7": 7, "pagechat-12": 12, "pagechat-x": 0, "abc": 0, "": 0, "-1": 0} {
		if got := seqFromStanzaID(id); got != want {
			t.Errorf("seqFromStanzaID(%q) = %d, want %d", id, got, want)
		}
	}
}
