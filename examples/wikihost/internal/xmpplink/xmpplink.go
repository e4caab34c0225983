// Package xmpplink keeps the example wiki's links between users and their
// XMPP addresses (JIDs). A user names a JID; the XMPP bridge's bot sends a
// code to it; the link counts only once the user enters the code in the
// wiki or sends it back to the bot. Only verified links map a JID to a
// user, and a JID belongs to at most one user.
//
// Links live in their own small bbolt file next to the wiki's data.
package xmpplink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"mellium.im/xmpp/jid"
)

const (
	// CodeTTL is how long a verification code stays valid.
	CodeTTL = 15 * time.Minute
	// MaxAttempts is how many wrong codes end a pending link.
	MaxAttempts = 5
	// resendGap spaces the codes sent for one user, so the bot cannot be
	// turned into a spam cannon against other people's JIDs.
	resendGap = 30 * time.Second
	// maxJIDBytes bounds an address (RFC 7622 allows up to 3071).
	maxJIDBytes = 3071
)

// Errors a caller can match.
var (
	// ErrInvalid is an unusable JID or an empty code.
	ErrInvalid = errors.New("invalid")
	// ErrTaken is a JID another user has verified.
	ErrTaken = errors.New("this XMPP address is linked to another account")
	// ErrNoPending is a verify without a pending link.
	ErrNoPending = errors.New("no XMPP address is waiting for verification; enter your address first")
	// ErrWrongCode is a code that does not match (or has expired).
	ErrWrongCode = errors.New("that code is wrong or has expired")
	// ErrTooSoon is a new code asked for too soon after the last.
	ErrTooSoon = errors.New("a code was sent moments ago; wait a little before asking for another")
	// ErrBridgeOff is linking while the XMPP bridge is not running.
	ErrBridgeOff = errors.New("the XMPP bridge is not enabled on this wiki")
	// ErrNoLink is an alert setting for a user without a link.
	ErrNoLink = errors.New("no XMPP address is linked; link one first")
)

// Sender delivers a chat message to a JID: the bridge's bot.
type Sender interface {
	SendChat(ctx context.Context, to, text string) error
}

// Link is one user's link.
type Link struct {
	JID      string `json:"jid"`
	Verified bool   `json:"verified"`
	// Alerts says the bot sends the user's notifications to the JID once
	// it is verified (on unless the user turned it off).
	Alerts bool `json:"alerts"`
}

type record struct {
	JID      string `json:"jid"`
	Verified bool   `json:"verified"`
	// Muted turns the user's alerts off. Records written before alerts
	// existed lack it, so they read as alerts on, the default.
	Muted    bool      `json:"muted,omitempty"`
	CodeHash string    `json:"code,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
	SentAt   time.Time `json:"sent,omitzero"`
}

var (
	bucketUsers = []byte("users") // user id -> record
	bucketJIDs  = []byte("jids")  // verified bare JID -> user id
)

// Links is the link store. Its methods are safe for concurrent use.
type Links struct {
	db  *bolt.DB
	now func() time.Time

	mu     sync.Mutex
	sender Sender
	site   string
}

// Open opens (creating if needed) the store at path.
func Open(path string) (*Links, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 3 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open XMPP links %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketJIDs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open XMPP links %s: %w", path, err)
	}
	return &Links{db: db, now: time.Now}, nil
}

// Close closes the store.
func (l *Links) Close() error { return l.db.Close() }

// SetSender sets who sends the codes (the bridge), and the site name the
// message mentions; nil turns linking off.
func (l *Links) SetSender(s Sender, site string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sender = s
	l.site = site
}

// NormalizeJID returns the bare, normalised form of address.
func NormalizeJID(address string) (string, error) {
	address = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(address), "xmpp:"))
	if address == "" || len(address) > maxJIDBytes {
		return "", fmt.Errorf("%w: enter an XMPP address such as alice@example.org", ErrInvalid)
	}
	j, err := jid.Parse(address)
	if err != nil {
		return "", fmt.Errorf("%w: %q is not an XMPP address: %v", ErrInvalid, address, err)
	}
	if j.Localpart() == "" || !strings.Contains(j.Domainpart(), ".") && j.Domainpart() != "localhost" {
		return "", fmt.Errorf("%w: %q is not a user's XMPP address (want name@server)", ErrInvalid, address)
	}
	return j.Bare().String(), nil
}

// Get returns the user's link; ok is false if there is none.
func (l *Links) Get(userID string) (Link, bool, error) {
	var rec record
	var ok bool
	err := l.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(userID))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return Link{}, false, fmt.Errorf("read XMPP link: %w", err)
	}
	if !ok {
		return Link{}, false, nil
	}
	return rec.link(), true, nil
}

func (r record) link() Link { return Link{JID: r.JID, Verified: r.Verified, Alerts: !r.Muted} }

// Start links userID to address, unverified, and has the bot send a code
// there. A user has one link: starting another replaces it.
func (l *Links) Start(ctx context.Context, userID, address string) (Link, error) {
	bare, err := NormalizeJID(address)
	if err != nil {
		return Link{}, err
	}
	l.mu.Lock()
	sender, site := l.sender, l.site
	l.mu.Unlock()
	if sender == nil {
		return Link{}, ErrBridgeOff
	}
	code, err := newCode()
	if err != nil {
		return Link{}, err
	}
	now := l.now()
	err = l.db.Update(func(tx *bolt.Tx) error {
		users, jids := tx.Bucket(bucketUsers), tx.Bucket(bucketJIDs)
		if owner := jids.Get([]byte(bare)); owner != nil && string(owner) != userID {
			return ErrTaken
		}
		var old record
		var muted bool
		if v := users.Get([]byte(userID)); v != nil {
			if err := json.Unmarshal(v, &old); err != nil {
				return err
			}
			if !old.SentAt.IsZero() && now.Sub(old.SentAt) < resendGap {
				return ErrTooSoon
			}
			if old.Verified && old.JID == bare {
				return nil // already verified: nothing to do
			}
			muted = old.Muted // the alert setting is the user's, not the address's
			if old.Verified {
				if err := jids.Delete([]byte(old.JID)); err != nil {
					return err
				}
			}
		}
		rec := record{JID: bare, Muted: muted, CodeHash: hashCode(bare, code), Expires: now.Add(CodeTTL), SentAt: now}
		return put(users, userID, rec)
	})
	if err != nil {
		return Link{}, err
	}
	link, _, err := l.Get(userID)
	if err != nil || link.Verified {
		return link, err
	}
	msg := fmt.Sprintf("Your code for linking this XMPP address to %s is %s. Enter it on the wiki, or send it back to me. It expires in %d minutes. If you did not ask for this, ignore this message.", site, code, int(CodeTTL.Minutes()))
	if err := sender.SendChat(ctx, bare, msg); err != nil {
		return link, fmt.Errorf("send the code to %s: %w", bare, err)
	}
	return link, nil
}

// Verify confirms the user's pending link with code.
func (l *Links) Verify(_ context.Context, userID, code string) (Link, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return Link{}, fmt.Errorf("%w: enter the code the bot sent you", ErrInvalid)
	}
	var out Link
	var wrong bool
	err := l.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		v := users.Get([]byte(userID))
		if v == nil {
			return ErrNoPending
		}
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		if rec.Verified {
			out = rec.link()
			return nil
		}
		if rec.CodeHash == "" {
			return ErrNoPending
		}
		ok, err := l.check(tx, userID, &rec, code)
		if err != nil {
			return err
		}
		wrong = !ok
		out = rec.link()
		return nil
	})
	if err != nil {
		return Link{}, err
	}
	if wrong {
		return out, ErrWrongCode
	}
	return out, nil
}

// check compares code with rec's and, on a match, verifies the link; it
// writes rec back either way (attempts count). tx is writable.
func (l *Links) check(tx *bolt.Tx, userID string, rec *record, code string) (bool, error) {
	users, jids := tx.Bucket(bucketUsers), tx.Bucket(bucketJIDs)
	now := l.now()
	match := now.Before(rec.Expires) && rec.Attempts < MaxAttempts &&
		subtle.ConstantTimeCompare([]byte(rec.CodeHash), []byte(hashCode(rec.JID, code))) == 1
	if !match {
		rec.Attempts++
		if rec.Attempts >= MaxAttempts || !now.Before(rec.Expires) {
			rec.CodeHash = "" // start over with a new code
		}
		return false, put(users, userID, *rec)
	}
	if owner := jids.Get([]byte(rec.JID)); owner != nil && string(owner) != userID {
		return false, ErrTaken
	}
	rec.Verified = true
	rec.CodeHash, rec.Expires, rec.Attempts = "", time.Time{}, 0
	if err := jids.Put([]byte(rec.JID), []byte(userID)); err != nil {
		return false, err
	}
	return true, put(users, userID, *rec)
}

// Delete removes the user's link.
func (l *Links) Delete(userID string) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		users, jids := tx.Bucket(bucketUsers), tx.Bucket(bucketJIDs)
		v := users.Get([]byte(userID))
		if v == nil {
			return nil
		}
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		if rec.Verified {
			if owner := jids.Get([]byte(rec.JID)); string(owner) == userID {
				if err := jids.Delete([]byte(rec.JID)); err != nil {
					return err
				}
			}
		}
		return users.Delete([]byte(userID))
	})
}

// SetAlerts turns the user's alerts over XMPP on or off (the bridge's
// AlertPrefs, the bot's mute and unmute, and the wiki's setting). The
// user must have a link, verified or not; the setting survives linking
// another address and ends with Delete.
func (l *Links) SetAlerts(_ context.Context, userID string, on bool) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		v := users.Get([]byte(userID))
		if v == nil {
			return ErrNoLink
		}
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("read XMPP link: %w", err)
		}
		rec.Muted = !on
		return put(users, userID, rec)
	})
}

// AlertJID returns the JID the user's alerts go to (the bridge's
// AlertPrefs): their verified JID, unless they turned alerts off. An
// unverified link gets nothing.
func (l *Links) AlertJID(_ context.Context, userID string) (string, bool, error) {
	var to string
	err := l.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(userID))
		if v == nil {
			return nil
		}
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		// The JID index must agree: it is what maps the address back to
		// this user for everything else the bridge does.
		if rec.Verified && !rec.Muted && string(tx.Bucket(bucketJIDs).Get([]byte(rec.JID))) == userID {
			to = rec.JID
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("read XMPP link: %w", err)
	}
	return to, to != "", nil
}

// LinkedUser returns the user who verified bareJID (the bridge's Users).
func (l *Links) LinkedUser(_ context.Context, bareJID string) (string, bool, error) {
	bare, err := NormalizeJID(bareJID)
	if err != nil {
		return "", false, nil
	}
	var user string
	err = l.db.View(func(tx *bolt.Tx) error {
		user = string(tx.Bucket(bucketJIDs).Get([]byte(bare)))
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("read XMPP link: %w", err)
	}
	return user, user != "", nil
}

// UserJID returns the address userID verified (the bridge's optional
// UserJIDs, which names banned users in the ban list XMPP moderators see).
func (l *Links) UserJID(_ context.Context, userID string) (string, bool, error) {
	link, ok, err := l.Get(userID)
	if err != nil || !ok || !link.Verified {
		return "", false, err
	}
	return link.JID, true, nil
}

// ConfirmLink verifies a pending link of bareJID with a code its owner
// sent the bot (the bridge's Users). It reports false for anything that
// is not the right code.
func (l *Links) ConfirmLink(_ context.Context, bareJID, code string) (bool, error) {
	bare, err := NormalizeJID(bareJID)
	if err != nil {
		return false, nil
	}
	code = strings.TrimSpace(code)
	var ok bool
	err = l.db.Update(func(tx *bolt.Tx) error {
		// Pending links are few; find the user waiting for this JID.
		c := tx.Bucket(bucketUsers).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var rec record
			if json.Unmarshal(v, &rec) != nil || rec.JID != bare || rec.Verified || rec.CodeHash == "" {
				continue
			}
			matched, err := l.check(tx, string(k), &rec, code)
			if err != nil {
				return err
			}
			ok = ok || matched
			if matched {
				return nil
			}
		}
		return nil
	})
	return ok, err
}

func put(b *bolt.Bucket, userID string, rec record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put([]byte(userID), v)
}

// hashCode keeps codes out of the file: a copy of the database does not
// reveal pending codes.
func hashCode(bare, code string) string {
	sum := sha256.Sum256([]byte(bare + "\x00" + code))
	return hex.EncodeToString(sum[:])
}

// newCode is a random 6-digit code.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}
