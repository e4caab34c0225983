package macro

import "html/template"

// RepeatNote returns the short note a host shows in place of a macro whose
// room is already shown higher up on the page (m.RepeatOf is set), instead
// of a second, identical room table. It names both spellings when they
// differ, so an author who wrote "{chat:my-room}" under "{chat:My Room}"
// learns why no second room appeared. The names are HTML-escaped.
func RepeatNote(m Macro) string {
	first := template.HTMLEscapeString(m.RepeatOf)
	if m.Name == m.RepeatOf {
		return `<p class="pagechat-repeat">The chat room “` + first + `” is shown above on this page.</p>`
	}
	return `<p class="pagechat-repeat">“` + template.HTMLEscapeString(m.Name) + `” is the same chat room as “` +
		first + `”, shown above on this page.</p>`
}
