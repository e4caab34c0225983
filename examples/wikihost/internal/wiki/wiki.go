package wiki

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"github.com/pagechat/pagechat/macro"

	"github.com/pagechat/pagechat/examples/wikihost/internal/search"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store/pgstore"
)

// Limits on input, each with its reason.
const (
	// MaxTitleBytes bounds page titles: they appear in every link,
	// listing and transcript title.
	MaxTitleBytes = 200
	// MaxBodyBytes bounds the wiki markup of one page, well under the
	// 1 MiB the JSON API accepts per request.
	MaxBodyBytes = 512 << 10
	// MaxChildBodyBytes bounds a page written by the chat plugin: a busy
	// day's transcript is large, and gRPC refuses messages over 4 MiB
	// anyway.
	MaxChildBodyBytes = 4 << 20
	// MaxFileBytes bounds one attachment. The plugin has its own, usually
	// lower, upload limit; this one protects the disk if it is raised.
	MaxFileBytes = 64 << 20
	// maxDepth bounds the walk up the parent chain in permission checks.
	// Parents are fixed at creation and must exist then, so there are no
	// cycles; the bound is a guard, not a feature.
	maxDepth = 64
	// pgOpenTimeout bounds connecting to PostgreSQL and migrating its
	// schema at start-up, which may wait for another node's migration.
	pgOpenTimeout = time.Minute
)

// Errors returned by Wiki, by category. Match them with errors.Is; the
// message says what exactly was wrong.
var (
	// ErrNotFound means the page, user or file does not exist, or (for
	// pages and files) that the user may not view it: the two answers are
	// one, so that nobody learns which page ids exist (see ErrNoSuchPage).
	ErrNotFound = store.ErrNotFound
	// ErrNoSuchPage is the whole answer about a page that does not exist
	// and, identically, about one the user may not view. It matches
	// ErrNotFound.
	ErrNoSuchPage error = hiddenNotFound("there is no such page, or you may not view it")
	// ErrNoSuchFile is ErrNoSuchPage for attached files: the answer about
	// a file that does not exist and about one on a page the user may not
	// view.
	ErrNoSuchFile error = hiddenNotFound("there is no such file, or you may not view it")
	// ErrForbidden means the user may not do what was asked.
	ErrForbidden = errors.New("permission denied")
	// ErrInvalid means the input is malformed or out of limits.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict means the request clashes with stored data: a taken
	// user name, or an edit of a page the chat plugin writes. Page titles
	// never conflict: they are not unique.
	ErrConflict = errors.New("conflict")
	// ErrTooLarge means the input exceeds a size limit.
	ErrTooLarge = errors.New("too large")
	// ErrUnavailable means the wiki's database cannot be reached right
	// now (in cluster mode: PostgreSQL restarting or unreachable).
	ErrUnavailable = store.ErrUnavailable
	// ErrBadCredentials means a wrong user name or password, or an
	// unknown or expired session.
	ErrBadCredentials = errors.New("wrong user name or password")
)

// Options configure Open.
type Options struct {
	// Logger receives the wiki's logs; nil discards them.
	Logger hclog.Logger
	// PasswordCost is the bcrypt cost of new password hashes; 0 means
	// bcrypt.DefaultCost. Tests lower it to bcrypt.MinCost.
	PasswordCost int
	// MaxPasswordChecks bounds the bcrypt checks running at once; 0 means
	// DefaultMaxPasswordChecks.
	MaxPasswordChecks int
	// ClientFreeFailures is how many failed logins one client address may
	// have before it is throttled; 0 means DefaultClientFreeFailures and a
	// negative number turns the per-address throttle off.
	ClientFreeFailures int
	// PostgresDSN, when set, keeps the wiki's data in that PostgreSQL
	// database instead of bbolt, and searches it with PostgreSQL's
	// full-text search instead of bleve: cluster mode, in which several
	// wiki nodes share the database and the attachments directory.
	PostgresDSN string
}

// Wiki is the example wiki. It is safe for concurrent use.
type Wiki struct {
	store    store.Store
	search   *searchState
	bg       *bgIndexer // indexes the pages the chat plugin writes
	filesDir string
	log      hclog.Logger
	cost     int
	creds    *credCache
	throttle *loginThrottle
	clients  *loginThrottle // nil: no throttle per client address
	checks   chan struct{}  // a slot per bcrypt check allowed at once
	// checkWait is how long a password check waits for a slot.
	checkWait time.Duration
	now       func() time.Time

	dummyOnce sync.Once
	dummy     []byte // see dummyHash

	closeOnce sync.Once
	closeErr  error

	alertMu sync.Mutex
	alerter Alerter // notifications also go here (notify.go); nil: none

	perms permMemo // the plugin's permission questions answered (permmemo.go)
}

// Open opens the wiki whose data lives in dir: the database dir/wiki.db,
// the search index dir/index (rebuilt from the database when needed) and
// attachments under dir/files. With opts.PostgresDSN the database and the
// search are in PostgreSQL, and dir holds the attachments only; several
// wikis (the nodes of a cluster) may then share dir and the database.
func Open(dir string, opts Options) (*Wiki, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	cost := opts.PasswordCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("password cost %d out of range %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	filesDir := filepath.Join(dir, "files")
	if err := os.MkdirAll(filesDir, 0o700); err != nil {
		return nil, fmt.Errorf("create files directory: %w", err)
	}
	if opts.MaxPasswordChecks < 0 {
		return nil, fmt.Errorf("MaxPasswordChecks %d is negative", opts.MaxPasswordChecks)
	}
	checks := opts.MaxPasswordChecks
	if checks == 0 {
		checks = DefaultMaxPasswordChecks()
	}
	var clients *loginThrottle
	switch free := opts.ClientFreeFailures; {
	case free == 0:
		clients = newThrottle(DefaultClientFreeFailures)
	case free > 0:
		clients = newThrottle(free)
	}
	st, pg, err := openStore(dir, opts.PostgresDSN)
	if err != nil {
		return nil, err
	}
	w := &Wiki{
		store: st, filesDir: filesDir, log: log, cost: cost, creds: newCredCache(),
		throttle: newLoginThrottle(), clients: clients,
		checks: make(chan struct{}, checks), checkWait: passwordCheckWait,
		now: time.Now,
	}
	indexDir := filepath.Join(dir, "index")
	build := func() (pageIndex, error) { return w.openIndex(indexDir) }
	if pg != nil {
		build = func() (pageIndex, error) { return pgIndex{pg}, nil }
	}
	// A search index that cannot be built (a full disk, for one) must not
	// keep the wiki from starting: it is derived data, and searchState
	// retries until it works (finding #1).
	w.search = newSearchState(log, build)
	w.bg = newBgIndexer(w.search, log)
	if n, err := st.PurgeSessions(w.now()); err != nil {
		log.Warn("could not purge expired sessions", "error", err)
	} else if n > 0 {
		log.Debug("purged expired sessions", "count", n)
	}
	return w, nil
}

// openStore opens the bbolt database in dir, or the PostgreSQL database
// at dsn if one is given (then also returned as pg, for search).
func openStore(dir, dsn string) (st store.Store, pg *pgstore.Store, err error) {
	if dsn == "" {
		b, err := store.Open(filepath.Join(dir, "wiki.db"))
		return b, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgOpenTimeout)
	defer cancel()
	pg, err = pgstore.Open(ctx, dsn, pgstore.Options{SearchText: func(p store.Page) string { return docOf(p).Text }})
	if err != nil {
		return nil, nil, err
	}
	return pg, pg, nil
}

// openIndex opens the search index in dir and, if it is new or was not
// closed cleanly, rebuilds it from the database.
func (w *Wiki) openIndex(dir string) (pageIndex, error) {
	idx, rebuild, err := search.Open(dir)
	if err != nil {
		return nil, err
	}
	if !rebuild {
		return idx, nil
	}
	start := time.Now()
	n := 0
	err = idx.Reindex(func(add func(search.Doc) error) error {
		return w.store.EachPage(func(p store.Page) error {
			n++
			return add(docOf(p))
		})
	})
	if err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("rebuild search index: %w", err)
	}
	if n > 0 {
		w.log.Info("search index rebuilt from the database", "pages", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return idx, nil
}

// Close closes the search index and the database. Later calls do nothing
// and return the first call's result.
func (w *Wiki) Close() error {
	w.closeOnce.Do(func() {
		w.bg.close() // before the index: it indexes what is still waiting
		w.closeErr = errors.Join(w.search.close(), w.store.Close())
	})
	return w.closeErr
}

// docOf is what the search index holds of p: the text a reader sees.
// Plugin HTML loses its tags, and a chat macro stands for its room name,
// because the tokenizer would read "{chat:Team" as the one word
// "chat:team" (a colon between letters does not break a word).
func docOf(p store.Page) search.Doc {
	var text string
	switch p.Format {
	case store.FormatHTML:
		text = search.StripHTML(p.Body)
	default:
		text = macro.Expand(p.Body, func(m macro.Macro) string { return " " + m.Name + " " })
	}
	return search.Doc{ID: p.ID, Title: p.Title, Text: text}
}

// reindex updates p in the search index. A failure is logged, not
// returned: the page is stored, and searchState rebuilds the index from
// the database.
func (w *Wiki) reindex(p store.Page) {
	w.search.update("index page "+p.ID, func(ix pageIndex) error { return ix.Put(docOf(p)) })
}

// hiddenNotFound is the type of ErrNoSuchPage and ErrNoSuchFile: one
// fixed message, naming neither the id nor a permission, that matches
// ErrNotFound.
type hiddenNotFound string

func (e hiddenNotFound) Error() string      { return string(e) }
func (hiddenNotFound) Is(target error) bool { return target == ErrNotFound }

// storeErr files a store error under this package's categories.
func storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// checkText validates a one-line text field such as a title.
func checkText(field, s string, maxBytes int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	case len(s) > maxBytes:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, field, maxBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s contains control characters", ErrInvalid, field)
	}
	return nil
}
