package render

import (
	"fmt"
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds a deliberately strict checker for Render's output. It is
// hand-written rather than built on golang.org/x/net/html for two reasons:
// importing x/net directly would make it a direct requirement of the module
// (a go.mod change this package must not cause), and a lenient HTML5 parser
// silently repairs malformed markup, whereas this checker rejects anything
// that is not exactly the small language Render is supposed to emit. If the
// checker accepts a string, every HTML parser sees the same tags in it.

var (
	checkElems = map[string]bool{
		"a": true, "span": true, "br": true, "hr": true, "pre": true,
		"p": true, "strong": true, "em": true, "del": true, "code": true,
		"blockquote": true, "ul": true, "ol": true, "li": true,
	}
	// checkBlocks are the elements that may not sit inside inline ones.
	checkBlocks = map[string]bool{"hr": true, "p": true, "pre": true, "blockquote": true, "ul": true, "ol": true, "li": true}
	checkAttrs  = map[string]bool{"href": true, "class": true, "rel": true, "target": true, "title": true, "start": true}
	// checkEntities are the only character references Render produces
	// (those of template.HTMLEscapeString).
	checkEntities = []string{"&amp;", "&lt;", "&gt;", "&#34;", "&#39;"}
	badSchemes    = []string{"javascript:", "data:", "vbscript:"}
)

type checkAttr struct{ name, value string }

// checkSafeHTML verifies that s uses only the allowed elements and
// attributes, contains no raw markup characters in text or attribute
// values, has no dangerous URLs, and is properly nested. It returns the
// visible text: tags stripped, entities decoded, <br> as "\n", and the one
// newline an HTML parser drops right after <pre> removed.
func checkSafeHTML(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("output is not valid UTF-8")
	}
	var vis strings.Builder
	var stack []string
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				return "", fmt.Errorf("unterminated tag at %d", i)
			}
			raw := s[i+1 : i+j]
			i += j + 1
			if name, ok := strings.CutPrefix(raw, "/"); ok {
				if !isLowerWord(name) {
					return "", fmt.Errorf("malformed end tag <%s>", raw)
				}
				if len(stack) == 0 || stack[len(stack)-1] != name {
					return "", fmt.Errorf("end tag </%s> does not match open elements %v", name, stack)
				}
				stack = stack[:len(stack)-1]
				continue
			}
			name, attrs, err := parseCheckTag(raw)
			if err != nil {
				return "", err
			}
			if !checkElems[name] {
				return "", fmt.Errorf("element <%s> not allowed", name)
			}
			for _, open := range stack {
				if open == "pre" && (name != "code" || stack[len(stack)-1] != "pre") {
					return "", fmt.Errorf("element <%s> inside <pre>", name)
				}
				if open == "a" && name == "a" {
					return "", fmt.Errorf("nested <a>")
				}
				if checkBlocks[name] && !checkBlocks[open] {
					return "", fmt.Errorf("block <%s> inside inline <%s>", name, open)
				}
			}
			if parent := ""; true {
				if len(stack) > 0 {
					parent = stack[len(stack)-1]
				}
				if (name == "li") != (parent == "ul" || parent == "ol") {
					return "", fmt.Errorf("<%s> in <%s>: list items go in lists, and only there", name, parent)
				}
			}
			if err := checkTagAttrs(name, attrs); err != nil {
				return "", err
			}
			if name == "br" {
				vis.WriteByte('\n')
				continue
			}
			if name == "hr" {
				continue
			}
			stack = append(stack, name)
			if name == "pre" && i < len(s) && s[i] == '\n' {
				i++ // HTML drops a newline directly after <pre>.
			}
		case '&':
			n, err := checkEntity(s[i:])
			if err != nil {
				return "", err
			}
			vis.WriteString(html.UnescapeString(s[i : i+n]))
			i += n
		case '>', '"', '\'':
			return "", fmt.Errorf("raw %q in text at %d", c, i)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if unicode.IsControl(r) && r != '\n' && r != '\t' {
				return "", fmt.Errorf("control character %U in output", r)
			}
			vis.WriteString(s[i : i+size])
			i += size
		}
	}
	if len(stack) != 0 {
		return "", fmt.Errorf("unclosed elements %v", stack)
	}
	return vis.String(), nil
}

func isLowerWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// checkEntity returns the length of the allowed character reference at the
// start of s.
func checkEntity(s string) (int, error) {
	for _, e := range checkEntities {
		if strings.HasPrefix(s, e) {
			return len(e), nil
		}
	}
	return 0, fmt.Errorf("unexpected character reference %.10q", s)
}

// parseCheckTag parses `name( attr="value")*` with nothing else allowed: no
// unquoted or single-quoted values, no self-closing slash, no stray
// characters that a browser would interpret in its own way.
func parseCheckTag(raw string) (string, []checkAttr, error) {
	n := 0
	for n < len(raw) && raw[n] >= 'a' && raw[n] <= 'z' {
		n++
	}
	name := raw[:n]
	if name == "" {
		return "", nil, fmt.Errorf("malformed tag <%s>", raw)
	}
	var attrs []checkAttr
	rest := raw[n:]
	for rest != "" {
		if rest[0] != ' ' {
			return "", nil, fmt.Errorf("malformed attributes in <%s>", raw)
		}
		rest = rest[1:]
		k := 0
		for k < len(rest) && rest[k] >= 'a' && rest[k] <= 'z' {
			k++
		}
		aname := rest[:k]
		rest = rest[k:]
		if aname == "" || !strings.HasPrefix(rest, `="`) {
			return "", nil, fmt.Errorf("malformed attribute in <%s>", raw)
		}
		rest = rest[2:]
		end := strings.IndexByte(rest, '"')
		if end < 0 {
			return "", nil, fmt.Errorf("unterminated attribute value in <%s>", raw)
		}
		value := rest[:end]
		rest = rest[end+1:]
		for i := 0; i < len(value); i++ {
			switch value[i] {
			case '<', '>', '\'':
				return "", nil, fmt.Errorf("raw %q in attribute %s of <%s>", value[i], aname, raw)
			case '&':
				if _, err := checkEntity(value[i:]); err != nil {
					return "", nil, err
				}
			}
		}
		attrs = append(attrs, checkAttr{aname, html.UnescapeString(value)})
	}
	return name, attrs, nil
}

// checkTagAttrs applies the attribute allow-list and URL rules.
func checkTagAttrs(elem string, attrs []checkAttr) error {
	seen := map[string]bool{}
	for _, a := range attrs {
		if strings.HasPrefix(a.name, "on") {
			return fmt.Errorf("event handler attribute %s on <%s>", a.name, elem)
		}
		if !checkAttrs[a.name] {
			return fmt.Errorf("attribute %s not allowed on <%s>", a.name, elem)
		}
		if seen[a.name] {
			return fmt.Errorf("duplicate attribute %s on <%s>", a.name, elem)
		}
		seen[a.name] = true
		// Browsers ignore whitespace and control characters when reading
		// a URL scheme, so compare with those removed.
		squeezed := strings.ToLower(strings.Map(func(r rune) rune {
			if r <= ' ' || unicode.IsControl(r) || unicode.IsSpace(r) {
				return -1
			}
			return r
		}, a.value))
		for _, bad := range badSchemes {
			if strings.HasPrefix(squeezed, bad) {
				return fmt.Errorf("attribute %s=%q uses %s", a.name, a.value, bad)
			}
		}
		if a.name == "start" && (elem != "ol" || strings.Trim(a.value, "0123456789") != "" || a.value == "") {
			return fmt.Errorf("start=%q on <%s>", a.value, elem)
		}
		if a.name == "href" {
			v := a.value
			rel := strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//") && !strings.HasPrefix(v, `/\`)
			abs := strings.HasPrefix(strings.ToLower(v), "http://") || strings.HasPrefix(strings.ToLower(v), "https://")
			if !rel && !abs {
				return fmt.Errorf("href %q is neither site-relative nor http(s)", v)
			}
			if v != squeezed && strings.ToLower(v) != squeezed {
				return fmt.Errorf("href %q contains whitespace or control characters", v)
			}
		}
	}
	if elem == "a" && !seen["href"] {
		return fmt.Errorf("<a> without href")
	}
	return nil
}
