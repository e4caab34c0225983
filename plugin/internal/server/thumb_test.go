package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

// encode returns a w×h image in format ("png", "jpeg" or "gif"), with a
// JPEG comment of pad bytes pushing its size information further in.
func encode(t *testing.T, format string, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, nil)
	case "gif":
		err = gif.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegWithBigMetadata puts APP1 segments of n bytes in total before
// the frame header, as cameras do with EXIF previews.
func jpegWithBigMetadata(t *testing.T, w, h, n int) []byte {
	j := encode(t, "jpeg", w, h)
	var seg []byte
	for n > 0 {
		l := min(n, 60000)
		body := make([]byte, l)
		seg = append(seg, 0xff, 0xe1, byte((l+2)>>8), byte(l+2))
		seg = append(seg, body...)
		n -= l
	}
	return append(append(append([]byte{}, j[:2]...), seg...), j[2:]...)
}

// webp builds the first bytes of a WebP file of each layout.
func webp(layout string, w, h int) []byte {
	b := make([]byte, 40)
	copy(b[0:], "RIFF")
	copy(b[8:], "WEBPVP8")
	switch layout {
	case "VP8 ":
		b[15] = ' '
		b[23], b[24], b[25] = 0x9d, 0x01, 0x2a
		b[26], b[27] = byte(w), byte(w>>8)
		b[28], b[29] = byte(h), byte(h>>8)
	case "VP8L":
		b[15] = 'L'
		b[20] = 0x2f
		bits := uint32(w-1) | uint32(h-1)<<14
		b[21], b[22], b[23], b[24] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	case "VP8X":
		b[15] = 'X'
		b[24], b[25], b[26] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
		b[27], b[28], b[29] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	}
	return b
}

func TestImageSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		head   []byte
		ctype  string
		w, h   int
		wantOK bool
	}{
		{"png", encode(t, "png", 800, 600), "image/png", 800, 600, true},
		{"jpeg", encode(t, "jpeg", 90, 1200), "image/jpeg", 90, 1200, true},
		{"gif", encode(t, "gif", 16, 16), "image/gif", 16, 16, true},
		{"webp lossy", webp("VP8 ", 1024, 768), "image/webp", 1024, 768, true},
		{"webp lossless", webp("VP8L", 5000, 3), "image/webp", 5000, 3, true},
		{"webp extended", webp("VP8X", 70000, 20), "image/webp", 70000, 20, true},
		{"webp bad start code", webp("VP8 ", 0, 0)[:23], "image/webp", 0, 0, false},
		{"truncated png", encode(t, "png", 8, 8)[:12], "image/png", 0, 0, false},
		{"not an image", []byte("hello"), "image/png", 0, 0, false},
	}
	for _, tt := range tests {
		w, h, ok := imageSize(tt.head, tt.ctype)
		if ok != tt.wantOK || w != tt.w || h != tt.h {
			t.Errorf("%s: imageSize = %d×%d %v, want %d×%d %v", tt.name, w, h, ok, tt.w, tt.h, tt.wantOK)
		}
	}
}

func TestThumbSize(t *testing.T) {
	t.Parallel()
	tests := []struct{ w, h, tw, th int }{
		{800, 600, 320, 240},
		{100, 50, 100, 50},
		{4000, 100, 320, 8},
		{100, 4000, 6, 240},
		{10000, 1, 320, 1},
		{1, 10000, 1, 240},
	}
	for _, tt := range tests {
		if tw, th := thumbSize(tt.w, tt.h); tw != tt.tw || th != tt.th {
			t.Errorf("thumbSize(%d, %d) = %d×%d, want %d×%d", tt.w, tt.h, tw, th, tt.tw, tt.th)
		}
	}
}

// An uploaded raster image is announced with a lazy-loaded thumbnail of
// bounded size that links to the full file; anything else (SVG included,
// whatever its name) is a file link only. The host receives the file
// unchanged, however much of it the plugin read up front.
func TestUploadImageThumbnail(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Pictures").GetId()
	noise := make([]byte, 200<<10)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		content []byte
		want    string // the <img> tag, "" for none
	}{
		{"png", "cat.png", encode(t, "png", 800, 600), `<img src="/files/N/cat.png" alt="cat.png" loading="lazy" width="320" height="240">`},
		{"small gif", "dot.gif", encode(t, "gif", 16, 8), `<img src="/files/N/dot.gif" alt="dot.gif" loading="lazy" width="16" height="8">`},
		{"jpeg named txt", "photo.txt", encode(t, "jpeg", 300, 600), `<img src="/files/N/photo.txt" alt="photo.txt" loading="lazy" width="120" height="240">`},
		{"jpeg with huge metadata", "big.jpg", jpegWithBigMetadata(t, 300, 600, 100<<10), `<img src="/files/N/big.jpg" alt="big.jpg" loading="lazy">`},
		{"webp", "w.webp", append(webp("VP8L", 640, 480), noise[:1000]...), `<img src="/files/N/w.webp" alt="w.webp" loading="lazy" width="320" height="240">`},
		{"tiny png", "t.png", encode(t, "png", 1, 1), `<img src="/files/N/t.png" alt="t.png" loading="lazy" width="1" height="1">`},
		{"svg", "x.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>`), ""},
		{"png named svg", "x.svg", encode(t, "png", 10, 10), `<img src="/files/N/x.svg" alt="x.svg" loading="lazy" width="10" height="10">`},
		{"random bytes", "noise.png", noise, ""},
	}
	for i, tt := range tests {
		resp, err := h.uploadBytes("alice", room, "img-"+tt.name, tt.file, tt.content)
		if err != nil {
			t.Fatalf("%s: upload: %v", tt.name, err)
		}
		html := resp.GetMessage().GetHtml()
		n := strings.Split(resp.GetFile().GetUrl(), "/")[2] // "/files/<n>/<name>"
		want := strings.ReplaceAll(tt.want, "/files/N/", "/files/"+n+"/")
		if tt.want == "" {
			if strings.Contains(html, "<img") {
				t.Errorf("%s: announcement has a thumbnail: %s", tt.name, html)
			}
		} else {
			if !strings.Contains(html, want) {
				t.Errorf("%s: announcement %s\nlacks %s", tt.name, html, want)
			}
			link := `<a class="file-thumb" href="` + resp.GetFile().GetUrl() + `" target="_blank" rel="noopener"><img `
			if !strings.Contains(html, link) {
				t.Errorf("%s: the thumbnail does not link to the full image: %s", tt.name, html)
			}
		}
		sum := sha256.Sum256(tt.content)
		h.host.mu.Lock()
		got := h.host.lastSum
		h.host.mu.Unlock()
		if !bytes.Equal(got, sum[:]) {
			t.Errorf("%s (upload %d): the host received different bytes", tt.name, i)
		}
	}
}
