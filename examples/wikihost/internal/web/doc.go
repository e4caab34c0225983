// Package web is the example wiki's HTTP side: the HTML pages people use,
// the JSON API scripts use, attachments, and the mount point of host-sdk's
// chat handler.
//
// It authenticates requests (a session cookie from the login form, or HTTP
// Basic auth for scripts), turns requests into calls on package wiki, and
// renders pages through html/template and package markup, with chat
// macros drawn by the pagechat plugin. State-changing requests pass Go's
// http.CrossOriginProtection. It holds no state of its own beyond
// templates: users, sessions and pages live in package wiki.
package web
