package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// RoomPreview returns roomID with the head of its lists (see
// PreviewLimits). Its cost grows with the limits, not with the room's age:
// files and transcripts are read from the end of their buckets, and of
// the participants only the keys and ranks are scanned (no record is
// decoded beyond those returned), so a room of thousands renders its
// table in well under a millisecond of store time.
func (b *Bolt) RoomPreview(ctx context.Context, roomID string, lim PreviewLimits) (Preview, error) {
	if b.isClosed() {
		return Preview{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Preview{}, err
	}
	key := previewKeyOf(roomID, lim)
	p, gen, ok := b.previews.get(key)
	if ok {
		return p, nil
	}
	p, err := b.readPreview(ctx, roomID, lim)
	if err == nil {
		b.previews.put(key, gen, p)
	}
	return p, err
}

// readPreview is RoomPreview from the database.
func (b *Bolt) readPreview(ctx context.Context, roomID string, lim PreviewLimits) (Preview, error) {
	var out Preview
	err := b.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(roomsBucket).Get([]byte(roomID))
		if v == nil {
			return fmt.Errorf("store: room %q: %w", roomID, ErrRoomNotFound)
		}
		r, err := decodeRoom(roomID, v)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		rb, err := roomBuckets(tx, roomID)
		if err != nil {
			return err
		}
		readHead(rb.log, &r)
		out.Room = r
		if out.Participants, out.TotalParticipants, err = previewMembers(rb.members, lim.Participants, lim.Online); err != nil {
			return fmt.Errorf("store: participants of room %q: %w", roomID, err)
		}
		if out.Files, out.TotalFiles, err = previewFiles(rb.files, lim.Files); err != nil {
			return fmt.Errorf("store: files of room %q: %w", roomID, err)
		}
		if out.Transcripts, out.TotalTranscripts, err = previewTranscripts(rb.transcripts, lim.Transcripts); err != nil {
			return fmt.Errorf("store: transcripts of room %q: %w", roomID, err)
		}
		return nil
	})
	return out, err
}

// rankField is how encoding/json writes memberRecord.Rank, its last field.
// Inside a JSON string a quote is always escaped, so these bytes can only
// be the field itself.
var rankField = []byte(`"rank":`)

// memberRank reads a member record's rank without decoding the record:
// at thousands of participants the decoder was nearly all of a table
// render. The rank is the record's last field, so it is read from the end;
// a record without it has rank 0, as when decoded.
func memberRank(v []byte) (uint64, error) {
	end := len(v)
	for end > 0 && (v[end-1] == '}' || v[end-1] == ' ' || v[end-1] == '\n') {
		end--
	}
	start := end
	for start > 0 && v[start-1] >= '0' && v[start-1] <= '9' {
		start--
	}
	if !bytes.HasSuffix(v[:start], rankField) {
		// Not where encoding/json puts it: look for it anywhere.
		i := bytes.LastIndex(v, rankField)
		if i < 0 {
			return 0, nil
		}
		start = i + len(rankField)
		for start < len(v) && v[start] == ' ' {
			start++
		}
		for end = start; end < len(v) && v[end] >= '0' && v[end] <= '9'; end++ {
		}
	}
	rank, err := strconv.ParseUint(string(v[start:end]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("member rank in %q: %w", v, err)
	}
	return rank, nil
}

// memberCand is a participant record that may be returned.
type memberCand struct {
	rank       uint64
	pos        int    // place in key order, for readMembers' stable order
	key, value []byte // valid for the transaction
}

func (a memberCand) less(b memberCand) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

// keepBest inserts c into best, kept sorted and at most limit long.
// Records come in key order, unrelated to rank, so after the first few
// most are rejected at once.
func keepBest(best []memberCand, c memberCand, limit int) []memberCand {
	if len(best) == limit && !c.less(best[len(best)-1]) {
		return best
	}
	i, _ := slices.BinarySearchFunc(best, c, func(e, t memberCand) int {
		if e.less(t) {
			return -1
		}
		return 1
	})
	if len(best) == limit {
		best = best[:limit-1]
	}
	return slices.Insert(best, i, c)
}

// previewMembers returns up to limit participants: every one in
// first-seen order when they fit, else those in online first. It keeps
// only the limit earliest of each kind while scanning, and decodes only
// the records it returns.
func previewMembers(b *bolt.Bucket, limit int, online []string) ([]Participant, int, error) {
	on := make(map[string]bool, len(online))
	for _, u := range online {
		on[u] = true
	}
	var onBest, offBest []memberCand
	total := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		total++
		if limit <= 0 {
			continue
		}
		rank, err := memberRank(v)
		if err != nil {
			return nil, 0, err
		}
		mc := memberCand{rank: rank, pos: total, key: k, value: v}
		if on[string(k)] {
			onBest = keepBest(onBest, mc, limit)
		} else {
			offBest = keepBest(offBest, mc, limit)
		}
	}
	var chosen []memberCand
	if total <= limit {
		// Everyone fits: first-seen order, online or not.
		chosen = append(onBest, offBest...)
		slices.SortFunc(chosen, func(a, b memberCand) int {
			if a.less(b) {
				return -1
			}
			return 1
		})
	} else {
		chosen = append(onBest, offBest...)[:limit]
	}
	out := make([]Participant, len(chosen))
	for j, mc := range chosen {
		var m memberRecord
		if err := json.Unmarshal(mc.value, &m); err != nil {
			return nil, 0, fmt.Errorf("decode participant %q: %w", mc.key, err)
		}
		out[j] = Participant{UserID: string(mc.key), DisplayName: m.DisplayName, LastSeen: m.LastSeen}
	}
	return out, total, nil
}

// previewFiles returns the newest limit files, oldest of them first.
func previewFiles(b *bolt.Bucket, limit int) ([]File, int, error) {
	out, total, err := newestRecords(b, limit, func(f fileRecord) File { return File(f) },
		func(k []byte) string { return fmt.Sprintf("file %x", k) })
	slices.Reverse(out)
	return out, total, err
}

// previewTranscripts returns the newest limit transcripts, newest first.
func previewTranscripts(b *bolt.Bucket, limit int) ([]Transcript, int, error) {
	return newestRecords(b, limit, func(t transcriptRecord) Transcript { return Transcript(t) },
		func(k []byte) string { return fmt.Sprintf("transcript %s", k) })
}

// newestRecords decodes the newest limit JSON records of b, newest first,
// and counts all of them; name says which record failed to decode.
func newestRecords[R, T any](b *bolt.Bucket, limit int, convert func(R) T, name func([]byte) string) ([]T, int, error) {
	var out []T
	total := 0
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		total++
		if len(out) >= limit {
			continue
		}
		var rec R
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, 0, fmt.Errorf("decode %s: %w", name(k), err)
		}
		out = append(out, convert(rec))
	}
	return out, total, nil
}

// previewCache keeps the room tables' data most recently read. A page
// view renders the table of each room on the page, and reading an old
// room's lists (thousands of participants to rank, files, transcripts)
// costs more than the rest of the render; on most sites most views are
// of rooms where nothing happened since the last one. The writes that
// change what a preview shows (the writer's commits, room creation,
// transcript bookkeeping) call changed for their rooms after they
// commit and before they return; a read that began before such a change
// keeps its result to itself, as a room's generation has moved on.
type previewCache struct {
	mu sync.Mutex
	// gens counts each room's changes; a room never changed is at 0. It
	// holds a number for every room written since the store opened.
	gens    map[string]uint64
	entries map[previewKey]previewEntry
}

// maxPreviews bounds the cache, a few KiB per table; it starts over when
// full.
const maxPreviews = 1024

// previewKey is a room and what was asked of it. The online users are
// part of it (sorted, joined), since they decide who is listed first.
type previewKey struct {
	room                             string
	participants, files, transcripts int
	online                           string
}

type previewEntry struct {
	gen uint64
	p   Preview
}

func previewKeyOf(roomID string, lim PreviewLimits) previewKey {
	online := slices.Clone(lim.Online)
	slices.Sort(online)
	return previewKey{
		room: roomID, participants: lim.Participants, files: lim.Files, transcripts: lim.Transcripts,
		online: strings.Join(online, "\x00"),
	}
}

// get returns the cached preview of k if it is current, else the room's
// generation for put.
func (c *previewCache) get(k previewKey) (Preview, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gen := c.gens[k.room]
	e, ok := c.entries[k]
	if !ok || e.gen != gen {
		return Preview{}, gen, false
	}
	return e.p.clone(), gen, true
}

// put keeps p for k if the room has not changed since gen was read.
func (c *previewCache) put(k previewKey, gen uint64, p Preview) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[k.room] != gen {
		return
	}
	if c.entries == nil || len(c.entries) >= maxPreviews {
		// The generations stay: a read that began before the reset
		// must still find out that its room changed since.
		c.entries = make(map[previewKey]previewEntry)
	}
	c.entries[k] = previewEntry{gen: gen, p: p.clone()}
}

// changed moves the given rooms' generations on, retiring their cached
// previews.
func (c *previewCache) changed(roomIDs ...string) {
	if len(roomIDs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens == nil {
		c.gens = make(map[string]uint64)
	}
	for _, id := range roomIDs {
		c.gens[id]++
	}
}

// clone copies p's lists, so that the cache and its callers share nothing
// a caller could change.
func (p Preview) clone() Preview {
	p.Participants = slices.Clone(p.Participants)
	p.Files = slices.Clone(p.Files)
	p.Transcripts = slices.Clone(p.Transcripts)
	return p
}
