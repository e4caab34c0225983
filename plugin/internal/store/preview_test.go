package store

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMemberRankReadsWhatTheDecoderReads(t *testing.T) {
	t.Parallel()
	for _, m := range []memberRecord{
		{UserID: "u", DisplayName: "Plain", Rank: 7},
		{UserID: "u", DisplayName: "No rank yet"},
		{UserID: "u", DisplayName: `tricky "rank":99 name`, Rank: 3},
		{UserID: `"rank":5`, DisplayName: "x", LastSeen: time.Unix(1e9, 0), Rank: 18446744073709551615},
	} {
		v, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := memberRank(v)
		if err != nil || got != m.Rank {
			t.Errorf("memberRank(%s) = %d, %v; want %d", v, got, err, m.Rank)
		}
	}
	// A record written some other way still gives its rank.
	if got, err := memberRank([]byte(`{"rank": 12, "name":"x"}`)); err != nil || got != 12 {
		t.Errorf("memberRank of a reordered record = %d, %v", got, err)
	}
}
