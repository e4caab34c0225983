package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A bbolt commit flushes the disk twice: once for the pages it wrote and
// once for the meta page that makes them current. On the disks this runs
// on, those two flushes and the ten or so scattered pages before the
// first are most of what a lone message costs. So the writer does not
// commit each batch to the bbolt file before acknowledging it. It applies
// the batch to a write transaction it keeps open, appends the batch's
// requests to the journal (one sequential write and one flush) and
// acknowledges them. The open transaction is committed to the file later,
// in a checkpoint that carries every batch since the last one:
//
//   - when it has been open for checkpointEvery;
//   - when the journal is nearly full;
//   - before any read, so every read sees every acknowledged write
//     (Bolt.settle), and before any write that does not go through the
//     writer;
//   - with any batch that edits or deletes a message, whose old text must
//     be erased from the file at once (scrub.go), and at Close.
//
// After a crash, Open applies the journal's batches that the file does not
// hold yet, in order, each with the time it was first applied. Applying a
// batch depends only on the file's contents, that time and the options
// the plugin passes (Options.DayOf), so the replay gives the same
// messages, sequence numbers and dedupe entries that were acknowledged.
// The checkpoint records in meta/journal the number of the last batch it
// holds; a batch at or below it is never applied twice.
//
// The journal is a file of fixed size beside the database, filled with
// zeros when it is made, and written from its start again after each
// checkpoint. Overwriting blocks the file already has lets the flush skip
// the file system's own journal, which appending would need for the
// file's new size. A record a crash cut short fails its checksum, where
// reading stops. Records left from before the last checkpoint either
// have numbers the file already holds, which Open skips, or break the
// run of numbers, where reading stops too.
//
// Record layout, integers big endian:
//
//	[0:4)   length of the payload
//	[4:8)   CRC-32C of the payload
//	[8:16)  payload: batch number (lsn)
//	[16:24) payload: time the batch was applied, Unix nanoseconds
//	[24:)   payload: the batch's requests as JSON (journalRequest)

// journalKey in metaBucket holds the number of the last journaled batch
// that the file holds, as 8 bytes big endian.
var journalKey = []byte("journal")

const (
	// journalSize is the journal file's size: enough for a checkpoint
	// interval at the highest rates measured, with room to spare.
	journalSize = 4 << 20
	// checkpointEvery bounds how long acknowledged batches wait in the
	// journal before a checkpoint writes them to the file. Longer means
	// fewer bbolt commits; shorter means less to replay after a crash
	// and less waiting for writes that do not go through the writer.
	checkpointEvery = 50 * time.Millisecond
	// stalledRetry is how often a checkpoint that failed is tried again
	// on the timer or for a read; a send always tries. Each try applies
	// every waiting batch again.
	stalledRetry = time.Second
	// journalHeader is the record header: length and checksum.
	journalHeader = 8
	// journalFixed is the payload before the requests: lsn and time.
	journalFixed = 16
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// journalPath is the journal of the database at path.
func journalPath(path string) string { return path + "-journal" }

// journal is the write-ahead file of acknowledged batches. Only the
// writer goroutine uses it, or Open before the writer starts.
type journal struct {
	f    *os.File
	path string
	pos  int64 // where the next record goes
	high int64 // end of what was written since the journal was last wiped
	size int64 // the file's size
	buf  []byte
}

// journalRequest is a request as the journal keeps it: what applying it
// again needs, and nothing of its sender.
type journalRequest struct {
	Kind  opKind       `json:"k"`
	Room  string       `json:"r,omitempty"`
	Msg   *NewMessage  `json:"m,omitempty"`
	Part  *Participant `json:"p,omitempty"`
	Seq   uint64       `json:"s,omitempty"`
	Marks []ReadMarker `json:"mk,omitempty"`
}

// journalBatch is one journaled batch: applied, flushed to the journal and
// acknowledged, and not yet in the file.
type journalBatch struct {
	lsn  uint64
	now  time.Time
	reqs []*request // copies without a sender: ctx is Background, done nil
}

// openJournal opens (making if needed) the journal at path and returns it
// with the records it holds, in file order, up to the first that is torn
// or damaged. The caller decides which of them are new (replay).
func openJournal(path string) (*journal, []journalBatch, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	j := &journal{f: f, path: path}
	fail := func(err error) (*journal, []journalBatch, error) {
		_ = f.Close()
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fail(fmt.Errorf("read journal %s: %w", path, err))
	}
	batches := parseJournal(data)
	j.size = int64(len(data))
	j.high = j.size // whatever is there may hold text until wiped
	if j.size < journalSize {
		if err := j.zero(j.size, journalSize); err != nil {
			return fail(err)
		}
		j.size = journalSize
		// A new journal must survive a crash as a name, not only as data.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fail(fmt.Errorf("journal %s: %w", path, err))
		}
	}
	return j, batches, nil
}

// parseJournal reads records from the start of data for as long as they
// are whole, pass their checksum and number one more than the last. A
// record that cannot be decoded ends the reading too: it is damage, not
// something to guess at.
func parseJournal(data []byte) []journalBatch {
	var out []journalBatch
	for off := 0; off+journalHeader <= len(data); {
		n := int(binary.BigEndian.Uint32(data[off:]))
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n < journalFixed || n > len(data)-off-journalHeader {
			break
		}
		payload := data[off+journalHeader : off+journalHeader+n]
		if crc32.Checksum(payload, crc32c) != sum {
			break
		}
		b, err := decodeJournalBatch(payload)
		if err != nil {
			break
		}
		if len(out) > 0 && b.lsn != out[len(out)-1].lsn+1 {
			break
		}
		out = append(out, b)
		off += journalHeader + n
	}
	return out
}

func decodeJournalBatch(payload []byte) (journalBatch, error) {
	b := journalBatch{
		lsn: binary.BigEndian.Uint64(payload),
		now: time.Unix(0, int64(binary.BigEndian.Uint64(payload[8:]))).UTC(),
	}
	var reqs []journalRequest
	if err := json.Unmarshal(payload[journalFixed:], &reqs); err != nil {
		return journalBatch{}, err
	}
	for _, jr := range reqs {
		r := &request{kind: jr.Kind, roomID: jr.Room, seq: jr.Seq, marks: jr.Marks}
		if jr.Msg != nil {
			r.msg = *jr.Msg
		}
		if jr.Part != nil {
			r.part = *jr.Part
		}
		b.reqs = append(b.reqs, r)
	}
	return b, nil
}

// encode lays out the record of batch lsn in j.buf.
func (j *journal) encode(lsn uint64, now time.Time, reqs []*request) ([]byte, error) {
	jrs := make([]journalRequest, len(reqs))
	for i, r := range reqs {
		jrs[i] = journalRequest{Kind: r.kind, Room: r.roomID, Seq: r.seq, Marks: r.marks}
		switch r.kind {
		case opAppend:
			jrs[i].Msg = &r.msg
		case opTouch, opMarker:
			jrs[i].Part = &r.part
		}
	}
	body, err := json.Marshal(jrs)
	if err != nil {
		return nil, fmt.Errorf("journal batch %d: %w", lsn, err)
	}
	n := journalFixed + len(body)
	if int64(n) > 1<<32-1 {
		return nil, fmt.Errorf("journal batch %d: %d bytes: %w", lsn, n, ErrInvalid)
	}
	buf := binary.BigEndian.AppendUint32(j.buf[:0], uint32(n))
	buf = append(buf, 0, 0, 0, 0) // the checksum, once the payload is there
	buf = binary.BigEndian.AppendUint64(buf, lsn)
	buf = binary.BigEndian.AppendUint64(buf, uint64(now.UnixNano()))
	buf = append(buf, body...)
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(buf[journalHeader:], crc32c))
	j.buf = buf
	return buf, nil
}

// fits reports whether a record of n bytes fits before the journal's end.
func (j *journal) fits(n int) bool { return j.pos+int64(n) <= j.size }

// nearlyFull reports whether the next checkpoint should come now rather
// than on its timer.
func (j *journal) nearlyFull() bool { return j.pos > j.size*3/4 }

// write puts rec at the journal's position and flushes it to the disk;
// the caller checked that it fits. On an error nothing after the position
// counts: the next record overwrites it.
func (j *journal) write(rec []byte) error {
	if _, err := j.f.WriteAt(rec, j.pos); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := fdatasync(j.f); err != nil {
		return fmt.Errorf("flush journal: %w", err)
	}
	j.pos += int64(len(rec))
	j.high = max(j.high, j.pos)
	return nil
}

// restart makes the next record go to the start, after a checkpoint made
// every record in the journal one the file holds.
func (j *journal) restart() { j.pos = 0 }

// wipe overwrites with zeros everything written since the last wipe, so
// that text erased from the database (scrub.go) is not left in the
// journal. Only call it when the file holds every record.
func (j *journal) wipe() error {
	if j.high == 0 {
		return nil
	}
	if err := j.zero(0, j.high); err != nil {
		return err
	}
	j.high, j.pos = 0, 0
	return nil
}

// zero writes zeros over [from, to) and flushes them.
func (j *journal) zero(from, to int64) error {
	zeros := make([]byte, min(to-from, 1<<20))
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := j.f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("zero journal %s: %w", j.path, err)
		}
		off += n
	}
	if err := fdatasync(j.f); err != nil {
		return fmt.Errorf("flush journal %s: %w", j.path, err)
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// syncDir flushes a directory, so a file made in it is there after a
// crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems cannot flush a directory (EINVAL); there is
	// nothing more to do on those.
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		err = nil
	}
	return err
}

// journaledLSN reads the number of the last journaled batch the file
// holds.
func journaledLSN(meta interface{ Get([]byte) []byte }) uint64 {
	v := meta.Get(journalKey)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func lsnBytes(lsn uint64) []byte { return binary.BigEndian.AppendUint64(nil, lsn) }
