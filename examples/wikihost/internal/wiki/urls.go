package wiki

import (
	"net/url"
	"strings"
)

// The wiki's URLs, in one place because the chat plugin receives them
// (page and file URLs, links to create pages) as well as the web pages.

// PageURL is the path of the page with id.
func PageURL(id string) string { return "/pages/" + url.PathEscape(id) }

// NewPageURL is the path of the form that creates a page titled title.
func NewPageURL(title string) string {
	return "/pages/new?title=" + url.QueryEscape(strings.TrimSpace(title))
}

// FileURL is the path of the attached file with id.
func FileURL(id string) string { return "/files/" + url.PathEscape(id) }
