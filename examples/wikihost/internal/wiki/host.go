package wiki

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	hostsdk "github.com/pagechat/pagechat/host-sdk"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// MaxChildKeyBytes bounds the key the plugin gives a child page; it is
// part of a database key.
const MaxChildKeyBytes = 200

// Host is the wiki as the pagechat plugin sees it: the callbacks host-sdk
// serves to the plugin. Get one from Wiki.Host.
type Host struct {
	w *Wiki
}

var (
	_ hostsdk.Host                = (*Host)(nil)
	_ hostsdk.FileRemover         = (*Host)(nil)
	_ hostsdk.PermissionVersioner = (*Host)(nil)
)

// Host returns the hostsdk.Host to pass to hostsdk.Load.
func (w *Wiki) Host() *Host { return &Host{w: w} }

// notFound turns the store's not-found into host-sdk's, which the plugin
// receives as NOT_FOUND rather than as a host failure.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", hostsdk.ErrNotFound, err)
	}
	return err
}

// CheckPermission maps the plugin's permissions onto the wiki's: view is
// the page's view permission, post is edit permission, and moderate is for
// admins who may view the page. Unknown users and pages get false.
// Answers are kept while the store's version holds (permmemo.go).
func (h *Host) CheckPermission(_ context.Context, userID, pageID string, perm hostsdk.Permission) (bool, error) {
	var work func(userID, pageID string) (bool, error)
	switch perm {
	case hostsdk.PermissionView:
		work = h.w.CanView
	case hostsdk.PermissionPost:
		work = h.w.CanEdit
	case hostsdk.PermissionModerate:
		work = h.w.CanModerate
	default:
		return false, nil
	}
	return h.w.perms.answer(h.w.store, permQuestion{userID, pageID, perm}, work)
}

// PermissionVersion is the store's version, which every write to users,
// sessions or pages moves, so that open chat streams are not re-checked
// while nothing changed. A store that several nodes share has none: a
// write on another node would not move it, and every re-check asks.
func (h *Host) PermissionVersion() (uint64, bool) {
	vs, ok := h.w.store.(store.Versioned)
	if !ok {
		return 0, false
	}
	return vs.Version(), true
}

// GetPage returns a page's title, URL and parent.
func (h *Host) GetPage(_ context.Context, pageID string) (hostsdk.Page, error) {
	p, err := h.w.store.PageMeta(pageID)
	if err != nil {
		return hostsdk.Page{}, notFound(err)
	}
	return hostsdk.Page{ID: p.ID, Title: p.Title, URL: PageURL(p.ID), ParentID: p.ParentID, AuthorID: p.Author}, nil
}

// GetUser returns a user's display name.
func (h *Host) GetUser(_ context.Context, userID string) (hostsdk.User, error) {
	u, err := h.w.store.User(userID)
	if err != nil {
		return hostsdk.User{}, notFound(err)
	}
	return hostsdk.User{ID: u.ID, DisplayName: u.DisplayName}, nil
}

// UpsertChildPage creates or updates the plugin's child page (a
// transcript) with c.Key under c.ParentID. Its body is the plugin's HTML,
// stored with FormatHTML and shown as is; its permissions follow the
// parent's, since view permission is checked up the parent chain.
func (h *Host) UpsertChildPage(_ context.Context, c hostsdk.ChildPage) (hostsdk.Page, error) {
	title := childTitle(c.Title)
	if err := checkTitle(title); err != nil {
		return hostsdk.Page{}, fmt.Errorf("child page: %w", err)
	}
	if err := checkText("child page key", c.Key, MaxChildKeyBytes); err != nil {
		return hostsdk.Page{}, err
	}
	if err := checkBody(c.BodyHTML, MaxChildBodyBytes); err != nil {
		return hostsdk.Page{}, fmt.Errorf("child page: %w", err)
	}
	now := h.w.now().UTC()
	p, created, err := h.w.store.UpsertChild(store.Page{
		Title: title, Body: c.BodyHTML, Format: store.FormatHTML,
		ParentID: c.ParentID, ChildKey: c.Key, Created: now, Updated: now,
	})
	if err != nil {
		return hostsdk.Page{}, notFound(err)
	}
	h.w.bg.put(docOf(p))
	h.w.log.Info("chat child page written", "page", p.ID, "parent", p.ParentID, "title", p.Title, "created", created)
	return hostsdk.Page{ID: p.ID, Title: p.Title, URL: PageURL(p.ID), ParentID: p.ParentID}, nil
}

// childTitle makes a title the plugin chose fit the wiki's rules, since
// refusing it would only make the plugin retry the same write forever: the
// room name in a transcript title may hold characters a wiki link cannot
// (brackets, "|"), and a long name can push it over MaxTitleBytes.
func childTitle(title string) string {
	title = strings.NewReplacer("[", "(", "]", ")", "|", "/").Replace(title)
	title = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(title, "?"))
	title = strings.Join(strings.Fields(title), " ")
	for len(title) > MaxTitleBytes {
		_, size := utf8.DecodeLastRuneInString(title)
		title = title[:len(title)-size]
	}
	return strings.TrimSpace(title)
}

// AttachFile stores a file uploaded in a chat room on the room's page.
func (h *Host) AttachFile(_ context.Context, f hostsdk.FileInfo, content io.Reader) (hostsdk.Attachment, error) {
	name := strings.TrimSpace(f.Name)
	if name == "" {
		name = "file"
	}
	stored, err := h.w.attach(store.File{
		PageID: f.PageID, UserID: f.UserID, Name: name, ContentType: f.ContentType, Size: f.Size,
	}, content)
	if err != nil {
		return hostsdk.Attachment{}, notFound(err)
	}
	return hostsdk.Attachment{ID: stored.ID, URL: FileURL(stored.ID)}, nil
}

// DeleteFile removes a chat upload from its page after its message was
// deleted.
func (h *Host) DeleteFile(_ context.Context, pageID, fileID, userID string) error {
	return notFound(h.w.detach(pageID, fileID, userID))
}

// ResolveLink finds a page by title for a wiki link userID wrote in a chat
// message on page fromPageID, chosen among the pages userID may view as
// Wiki.PageByTitle does. A missing page, or one userID may not view, gets
// the URL of the form that creates it.
func (h *Host) ResolveLink(_ context.Context, userID, fromPageID, title string) (hostsdk.Link, error) {
	href, exists := h.w.LinkTarget(userID, fromPageID, title)
	return hostsdk.Link{URL: href, Exists: exists}, nil
}
