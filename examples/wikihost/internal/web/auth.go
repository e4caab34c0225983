package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	hostsdk "github.com/pagechat/pagechat/host-sdk"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// sessionCookie names the login cookie.
const sessionCookie = "pagechat_session"

// errNoLogin means the request carries neither credentials nor a session.
var errNoLogin = errors.New("not logged in")

// authenticator tells who a request comes from.
type authenticator struct {
	wiki *wiki.Wiki
}

// identify returns the request's user and whether the browser attached the
// credentials on its own (a cookie), which is what makes a request
// forgeable by other sites. HTTP Basic credentials win over the cookie, so
// a script's explicit login is never mistaken for whoever is logged in. A
// wrong password or stale session is wiki.ErrBadCredentials; no login at
// all is errNoLogin.
func (a *authenticator) identify(r *http.Request) (store.User, bool, error) {
	if name, password, ok := r.BasicAuth(); ok {
		u, err := a.wiki.AuthenticateFrom(clientAddr(r), name, password)
		return u, false, err
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return store.User{}, false, errNoLogin
	}
	u, err := a.wiki.SessionUser(c.Value)
	return u, true, err
}

// clientAddr is the address failed logins are counted against: the
// connection's IP address. Behind a reverse proxy every request has the
// proxy's address, and the proxy must do this throttling instead.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// chatIdentity is the hostsdk.IdentifyFunc of the chat handler.
func (a *authenticator) chatIdentity(r *http.Request) (hostsdk.Identity, error) {
	u, cookie, err := a.identify(r)
	if err != nil {
		return hostsdk.Identity{}, chatError(err)
	}
	// A browser may have cached Basic credentials and resend them on its
	// own, just like a cookie; only browsers send Sec-Fetch-Site, so treat
	// such requests as cookie sessions and let the handler check CSRF.
	browser := r.Header.Get("Sec-Fetch-Site") != ""
	id := hostsdk.Identity{UserID: u.ID, CookieSession: cookie || browser}
	id.Recheck, id.RecheckKey = a.chatRecheck(r, u, cookie)
	return id, nil
}

// chatRecheck is the re-check of an open event stream's login: the
// session the request came with, found again by its hash, or for a
// password the account unchanged. It answers what chatIdentity on the
// same request would, without parsing it again. key names what it checks
// (the session, or the account's password), so that the streams of one
// login share a check.
func (a *authenticator) chatRecheck(r *http.Request, u store.User, cookie bool) (recheck func() error, key string) {
	if !cookie {
		check := a.wiki.PasswordRecheck(u)
		// The password streams of u opened under the same password
		// check the same thing: that it is still u's.
		sum := sha256.Sum256(u.PasswordHash)
		return func() error { return chatError(check()) }, "password:" + hex.EncodeToString(sum[:])
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, "" // identify found it; without a Recheck the handler asks chatIdentity
	}
	check, key := a.wiki.SessionRecheck(c.Value)
	if key != "" {
		key = "session:" + key
	}
	return func() error {
		now, err := check()
		if err != nil {
			return chatError(err)
		}
		if now.ID != u.ID {
			return fmt.Errorf("%w: the session now belongs to another user", hostsdk.ErrUnauthenticated)
		}
		return nil
	}, key
}

// chatError says what a failed login means to the chat handler.
func chatError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNoLogin), errors.Is(err, wiki.ErrBadCredentials), errors.Is(err, wiki.ErrTooManyAttempts):
		// The chat answers a throttled login as any failed one (401): it
		// has no status of its own for it, and the wiki's login form says
		// more.
		return fmt.Errorf("%w: %w", hostsdk.ErrUnauthenticated, err)
	case errors.Is(err, wiki.ErrBusy):
		// The chat has no status of its own for an overloaded login;
		// the host failing its part of the request is the closest.
		return fmt.Errorf("%w: %w", hostsdk.ErrHostFailed, err)
	case errors.Is(err, wiki.ErrUnavailable):
		// The wiki's database is down for a moment (a cluster's
		// PostgreSQL restarting): the chat answers 503 unavailable, and
		// the browser retries.
		return fmt.Errorf("%w: %w", hostsdk.ErrHostUnavailable, err)
	}
	return err
}

// setSession gives the browser its session cookie.
func setSession(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,                 // no script may read it
		SameSite: http.SameSiteLaxMode, // not sent on cross-site posts
		Secure:   r.TLS != nil,         // the demo serves plain HTTP on loopback
	})
}

// clearSession removes the session cookie.
func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
}

// localPath returns next if it is a path on this site, else "/": the
// login form's redirect target must never send a user elsewhere.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/"
	}
	return next
}
