package render

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// linkBomb returns a message of about limit bytes made of distinct wiki
// links "[0] [1] ...", the shape of the link-bomb finding.
func linkBomb(limit int) string {
	var b strings.Builder
	for i := 0; b.Len() < limit-10; i++ {
		fmt.Fprintf(&b, "[%d]", i)
	}
	return b.String()
}

func TestRenderCapsWikiLinks(t *testing.T) {
	t.Parallel()
	text := linkBomb(16 << 10)
	var calls atomic.Int64
	r := &Renderer{Resolver: LinkResolverFunc(func(_ context.Context, _, title string) (Link, error) {
		calls.Add(1)
		return Link{URL: "/wiki/" + title, Exists: true}, nil
	})}
	html, err := r.Render(context.Background(), "page-1", text)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(text, "["); n < 2700 {
		t.Fatalf("bomb has %d links, want at least 2700", n)
	}
	if got := calls.Load(); got > MaxWikiTitles {
		t.Errorf("resolver called %d times, want at most %d", got, MaxWikiTitles)
	}
	if got := strings.Count(string(html), `class="wikilink"`); got != MaxWikiTitles {
		t.Errorf("%d wiki links rendered, want %d", got, MaxWikiTitles)
	}
	// The 21st title on is the typed text.
	if !strings.Contains(string(html), "</a>[20][21]") {
		t.Errorf("links beyond the cap are not plain text: %.300s", html[len(html)-300:])
	}
	if got := len(r.WikiLinks(text)); got != MaxWikiTitles {
		t.Errorf("WikiLinks returned %d titles, want %d", got, MaxWikiTitles)
	}
}

func TestRenderCapsLinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, unit, class string
	}{
		{"repeated wiki title", "[Home] ", `class="wikilink"`},
		{"urls", "http://a.example ", `class="external"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text := strings.Repeat(tt.unit, (16<<10)/len(tt.unit))
			html, err := (&Renderer{Resolver: fakeResolver()}).Render(context.Background(), "page-1", text)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(string(html), tt.class); got != MaxLinks {
				t.Errorf("%d links rendered, want %d", got, MaxLinks)
			}
		})
	}
}

func TestRenderHTMLBound(t *testing.T) {
	t.Parallel()
	const limit = 16 << 10
	longURL := "/wiki/" + strings.Repeat("x", 4000)
	tests := []struct {
		name string
		text string
	}{
		{"distinct wiki links", linkBomb(limit)},
		{"repeated wiki link", strings.Repeat("[a]", limit/3)},
		{"urls", strings.Repeat("http://a.b ", limit/11)},
		{"quotes", strings.Repeat(`"`, limit)},
		{"quotes paste", strings.Repeat("\"\n", limit/2)},
		{"wiki links then quotes", strings.Repeat("[a]", 20) + strings.Repeat(`"`, limit-60)},
		{"short", "[a]"},
	}
	r := &Renderer{Resolver: LinkResolverFunc(func(context.Context, string, string) (Link, error) {
		return Link{URL: longURL, Exists: true}, nil
	})}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			html, err := r.Render(context.Background(), "page-1", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if max := MaxHTMLBytes(len(tt.text)); len(html) > max {
				t.Errorf("HTML is %d bytes for %d bytes of text, bound %d", len(html), len(tt.text), max)
			}
		})
	}
}

// batchResolver counts its calls of each kind; it knows one page, Home.
type batchResolver struct {
	single  atomic.Int32
	batches [][]string
	err     error
}

func (b *batchResolver) ResolveLink(context.Context, string, string) (Link, error) {
	b.single.Add(1)
	return Link{}, nil
}

func (b *batchResolver) ResolveLinks(_ context.Context, _ string, titles []string) ([]Link, error) {
	b.batches = append(b.batches, titles)
	if b.err != nil {
		return nil, b.err
	}
	links := make([]Link, len(titles))
	for i, t := range titles {
		if t == "Home" {
			links[i] = Link{URL: "/pages/home", Exists: true}
		}
	}
	return links, nil
}

// A resolver that can answer a message's titles at once is asked once,
// with the capped distinct titles in order, and never per title.
func TestRenderResolvesAllTitlesInOneBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		text       string
		wantTitles int
		wantLive   bool
		err        error
	}{
		{"a few links", "[Home] [Elsewhere] [Home]", 2, true, nil},
		{"a link bomb", linkBomb(16 << 10), MaxWikiTitles, false, nil},
		{"the host fails", "[Home] [Elsewhere]", 2, false, fmt.Errorf("host down")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := &batchResolver{err: tc.err}
			html, err := (&Renderer{Resolver: res}).Render(context.Background(), "p1", tc.text)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if len(res.batches) != 1 || len(res.batches[0]) != tc.wantTitles {
				t.Fatalf("batches %v, want one of %d titles", res.batches, tc.wantTitles)
			}
			if n := res.single.Load(); n != 0 {
				t.Errorf("ResolveLink called %d times beside the batch", n)
			}
			if live := strings.Contains(string(html), `href="/pages/home"`); live != tc.wantLive {
				t.Errorf("html %q: live Home link %v, want %v", html, live, tc.wantLive)
			}
		})
	}
}
