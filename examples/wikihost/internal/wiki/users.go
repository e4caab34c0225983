package wiki

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

const (
	// SessionTTL is how long a login lasts.
	SessionTTL = 7 * 24 * time.Hour
	// MinPasswordBytes and MaxPasswordBytes bound passwords; bcrypt reads
	// at most 72 bytes and refuses longer input.
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
	// MaxDisplayNameBytes bounds display names, shown beside every chat
	// message.
	MaxDisplayNameBytes = 100
	// sessionTokenBytes is the entropy of a session token.
	sessionTokenBytes = 32
	// credCacheTTL and credCacheMax bound the cache of verified Basic auth
	// credentials (see credCache).
	credCacheTTL = 5 * time.Minute
	credCacheMax = 4096
	// passwordCheckWait is how long a login waits for a free password
	// check slot before it is refused with ErrBusy: long enough to ride
	// out a burst of honest logins, short enough that a flood gets its
	// answer quickly instead of piling up goroutines.
	passwordCheckWait = 2 * time.Second
)

// ErrBusy means too many password checks were running to check one more
// in time; the caller should try again shortly.
var ErrBusy = errors.New("too many logins at once; try again shortly")

// DefaultMaxPasswordChecks is how many bcrypt checks run at once unless
// Options.MaxPasswordChecks says otherwise: half the cores, so that a
// flood of logins leaves the other half to the pages and the chat.
func DefaultMaxPasswordChecks() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// userIDPattern is what a login name may look like: short, lower case, and
// safe in URLs, log lines and permission lists.
var userIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// NormalizeUserID returns the canonical form of a login name: login names
// are case-insensitive.
func NormalizeUserID(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// NewUser describes an account to create.
type NewUser struct {
	Name        string // login name: a-z, 0-9, _ and -, starting with a letter
	Password    string
	DisplayName string // defaults to Name
	Admin       bool
}

// CreateUser creates an account. A taken name fails with ErrConflict.
func (w *Wiki) CreateUser(nu NewUser) (store.User, error) {
	id := NormalizeUserID(nu.Name)
	if !userIDPattern.MatchString(id) {
		return store.User{}, fmt.Errorf("%w: user name %q must be 1-32 characters a-z, 0-9, _ or -, starting with a letter", ErrInvalid, nu.Name)
	}
	if len(nu.Password) < MinPasswordBytes || len(nu.Password) > MaxPasswordBytes {
		return store.User{}, fmt.Errorf("%w: password must be %d to %d bytes long", ErrInvalid, MinPasswordBytes, MaxPasswordBytes)
	}
	display := strings.TrimSpace(nu.DisplayName)
	if display == "" {
		display = id
	}
	if err := checkText("display name", display, MaxDisplayNameBytes); err != nil {
		return store.User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(nu.Password), w.cost)
	if err != nil {
		return store.User{}, fmt.Errorf("hash password: %w", err)
	}
	u := store.User{ID: id, DisplayName: display, PasswordHash: hash, Admin: nu.Admin, Created: w.now().UTC()}
	if err := w.store.CreateUser(u); err != nil {
		return store.User{}, storeErr(err)
	}
	w.log.Info("user created", "user", id, "admin", nu.Admin)
	return u, nil
}

// User returns the account with id.
func (w *Wiki) User(id string) (store.User, error) {
	return w.store.User(id)
}

// Authenticate checks a login name and password. Any failure is
// ErrBadCredentials, so a caller cannot tell which of the two was wrong,
// except that after repeated failures for a name further attempts are
// refused with a *ThrottledError (ErrTooManyAttempts) without a check.
func (w *Wiki) Authenticate(name, password string) (store.User, error) {
	return w.AuthenticateFrom("", name, password)
}

// AuthenticateFrom is Authenticate for a request from client, its address
// (such as an IP address; "" for none). Besides each name, each client
// address is throttled after Options.ClientFreeFailures failures, so that
// trying a new name on every request does not buy unlimited bcrypt
// checks. When more than Options.MaxPasswordChecks checks are running, a
// check waits briefly for a slot and then fails with ErrBusy.
func (w *Wiki) AuthenticateFrom(client, name, password string) (store.User, error) {
	id := NormalizeUserID(name)
	if !userIDPattern.MatchString(id) || len(password) > MaxPasswordBytes {
		return store.User{}, ErrBadCredentials
	}
	if client != "" && w.clients != nil {
		if wait := w.clients.wait(client, w.now()); wait > 0 {
			return store.User{}, &ThrottledError{Wait: wait, Client: true}
		}
	}
	if wait := w.throttle.wait(id, w.now()); wait > 0 {
		return store.User{}, &ThrottledError{Wait: wait}
	}
	failed := func() {
		w.throttle.failed(id, w.now())
		if client != "" && w.clients != nil {
			w.clients.failed(client, w.now())
		}
	}
	u, err := w.store.User(id)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the time a real check takes, so that response times do
		// not tell which user names exist.
		if err := w.compare(w.dummyHash(), password, new(bool)); err != nil {
			return store.User{}, err
		}
		failed()
		return store.User{}, ErrBadCredentials
	}
	if err != nil {
		return store.User{}, err
	}
	// A check that found no free slot is not a failed login, neither for
	// this request nor for those that joined it.
	ok, err := w.creds.check(u, password, w.now, func() (bool, error) {
		var match bool
		err := w.compare(u.PasswordHash, password, &match)
		return match, err
	})
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		failed()
		return store.User{}, ErrBadCredentials
	}
	w.throttle.succeeded(id)
	return u, nil
}

// compare checks password against hash in one of the w.checks slots,
// setting *match. It fails with ErrBusy when no slot frees up within
// w.checkWait: bcrypt is expensive by design, and unbounded checks would
// take every core from the pages and the chat.
func (w *Wiki) compare(hash []byte, password string, match *bool) error {
	select {
	case w.checks <- struct{}{}:
	default:
		t := time.NewTimer(w.checkWait)
		defer t.Stop()
		select {
		case w.checks <- struct{}{}:
		case <-t.C:
			return ErrBusy
		}
	}
	defer func() { <-w.checks }()
	*match = bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return nil
}

// dummyHash is a bcrypt hash at the wiki's cost that no password matches
// in practice, for Authenticate to check unknown users against.
func (w *Wiki) dummyHash() []byte {
	w.dummyOnce.Do(func() {
		w.dummy, _ = bcrypt.GenerateFromPassword([]byte("no user has this password"), w.cost)
	})
	return w.dummy
}

// credCache remembers recently verified user/password pairs. Scripts send
// HTTP Basic auth on every request, and a bcrypt check
// costs tens of milliseconds of CPU by design, which would cap the API at a
// few dozen requests per second per core. Entries hold a keyed hash, not
// the password, and are valid only while the user's stored hash is the one
// they were checked against, so a password change takes effect at once.
//
// Requests that bring the same credentials while they are being checked
// wait for that one check: after a restart, when the cache is empty,
// thousands of requests with a few hundred credentials arrive together,
// and checking each would keep the CPU busy for minutes.
type credCache struct {
	key [32]byte // random per process

	mu       sync.Mutex
	m        map[[32]byte]credEntry
	checking map[[32]byte]*credCheck

	// joined, if set, is called each time a request starts waiting for a
	// check that is already running. Tests count it to know that every
	// request they started has reached the cache.
	joined func()
}

type credEntry struct {
	passwordHash string // the bcrypt hash the password was checked against
	expires      time.Time
}

// credCheck is a password check in progress.
type credCheck struct {
	passwordHash string
	done         chan struct{} // closed once ok and err are set
	ok           bool
	err          error // the check could not run (ErrBusy)
}

func newCredCache() *credCache {
	c := &credCache{m: make(map[[32]byte]credEntry), checking: make(map[[32]byte]*credCheck)}
	_, _ = rand.Read(c.key[:]) // crypto/rand.Read never fails on supported systems
	return c
}

func (c *credCache) digest(userID, password string) [32]byte {
	mac := hmac.New(sha256.New, c.key[:])
	mac.Write([]byte(userID))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	var d [32]byte
	copy(d[:], mac.Sum(nil))
	return d
}

// check reports whether password is u's: from the cache, from a check of
// the same credentials already running, or by calling compare. Only
// successes are remembered; a wrong password shares one compare with the
// requests that arrived with it, and the next one pays again.
func (c *credCache) check(u store.User, password string, now func() time.Time, compare func() (bool, error)) (bool, error) {
	d := c.digest(u.ID, password)
	hash := string(u.PasswordHash)
	c.mu.Lock()
	if e, ok := c.m[d]; ok && now().Before(e.expires) && e.passwordHash == hash {
		c.mu.Unlock()
		return true, nil
	}
	if running, ok := c.checking[d]; ok && running.passwordHash == hash {
		c.mu.Unlock()
		if c.joined != nil {
			c.joined()
		}
		<-running.done
		return running.ok, running.err
	}
	run := &credCheck{passwordHash: hash, done: make(chan struct{})}
	c.checking[d] = run
	c.mu.Unlock()

	run.ok, run.err = compare()

	c.mu.Lock()
	if c.checking[d] == run {
		delete(c.checking, d)
	}
	if run.ok {
		if len(c.m) >= credCacheMax {
			clear(c.m) // crude but bounded; entries are cheap to recreate
		}
		c.m[d] = credEntry{passwordHash: hash, expires: now().Add(credCacheTTL)}
	}
	c.mu.Unlock()
	close(run.done)
	return run.ok, run.err
}

// NewSession starts a login session for userID and returns the token for
// the browser's cookie and when it expires.
func (w *Wiki) NewSession(userID string) (token string, expires time.Time, err error) {
	raw := make([]byte, sessionTokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, fmt.Errorf("session token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	expires = w.now().Add(SessionTTL).UTC()
	if err := w.store.PutSession(tokenHash(token), store.Session{UserID: userID, Expires: expires}); err != nil {
		return "", time.Time{}, fmt.Errorf("store session: %w", err)
	}
	return token, expires, nil
}

// SessionUser returns the user of a session token. An unknown, malformed
// or expired token is ErrBadCredentials.
func (w *Wiki) SessionUser(token string) (store.User, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(sessionTokenBytes) {
		return store.User{}, ErrBadCredentials
	}
	return w.sessionUser(tokenHash(token))
}

// SessionRecheck returns SessionUser(token) as a function to call again
// and again, for an open event stream: the token is checked and hashed
// once, and each call looks the session up as SessionUser does. key names
// the session (its token's hash, as stored), so that the streams of one
// session can share a check; it is empty for a malformed token.
func (w *Wiki) SessionRecheck(token string) (check func() (store.User, error), key string) {
	if len(token) != base64.RawURLEncoding.EncodedLen(sessionTokenBytes) {
		return func() (store.User, error) { return store.User{}, ErrBadCredentials }, ""
	}
	h := tokenHash(token)
	vs, ok := w.store.(store.Versioned)
	if !ok {
		return func() (store.User, error) { return w.sessionUser(h) }, h
	}
	// An open stream checks its session every second while sessions and
	// users rarely change: the last answer stands while the store's
	// version does and the session has not expired, without looking
	// either up again.
	var last atomic.Pointer[sessionAnswer]
	return func() (store.User, error) {
		version := vs.Version() // before reading, so a write meanwhile retires the answer
		if a := last.Load(); a != nil && a.version == version && w.now().Before(a.expires) {
			return a.user, nil
		}
		u, expires, err := w.sessionLookup(h)
		if err != nil {
			return u, err
		}
		last.Store(&sessionAnswer{version: version, user: u, expires: expires})
		return u, nil
	}, h
}

// sessionAnswer is a session re-check's last answer, current while the
// store's version holds and until the session expires.
type sessionAnswer struct {
	version uint64
	user    store.User
	expires time.Time
}

// sessionUser is SessionUser by the token's hash.
func (w *Wiki) sessionUser(h string) (store.User, error) {
	u, _, err := w.sessionLookup(h)
	return u, err
}

// sessionLookup is sessionUser, with the session's expiry.
func (w *Wiki) sessionLookup(h string) (store.User, time.Time, error) {
	sess, err := w.store.Session(h)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, time.Time{}, ErrBadCredentials
	}
	if err != nil {
		return store.User{}, time.Time{}, err
	}
	if !w.now().Before(sess.Expires) {
		if err := w.store.DeleteSession(h); err != nil {
			w.log.Warn("could not delete expired session", "error", err)
		}
		return store.User{}, time.Time{}, ErrBadCredentials
	}
	u, err := w.store.User(sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, time.Time{}, ErrBadCredentials
	}
	return u, sess.Expires, err
}

// PasswordRecheck returns a check, for an event stream opened with u's
// password, that u's account still exists and its password has not
// changed since: what checking the password again would find, without
// a bcrypt comparison (and its throttle) for every check.
func (w *Wiki) PasswordRecheck(u store.User) func() error {
	return func() error {
		now, err := w.store.User(u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrBadCredentials
		}
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(now.PasswordHash, u.PasswordHash) != 1 {
			return ErrBadCredentials
		}
		return nil
	}
}

// EndSession ends the session of token (logout).
func (w *Wiki) EndSession(token string) error {
	return w.store.DeleteSession(tokenHash(token))
}

// tokenHash is the key a session is stored under: a hash, so that a copy
// of the database does not hold usable tokens.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
