package server

import (
	"bytes"
	"encoding/binary"
	"image"
	_ "image/gif"  // registers GIF for image.DecodeConfig
	_ "image/jpeg" // registers JPEG for image.DecodeConfig
	_ "image/png"  // registers PNG for image.DecodeConfig
)

// Thumbnails. An uploaded raster image is shown in the message list as a
// small picture linking to the full file. SVG is not among them: it can
// carry script, and hosts serve it as a download.
const (
	// imageHeadBytes is how much of an image upload is read up front to
	// find its dimensions: PNG, GIF and WebP say them in their first few
	// dozen bytes, JPEG after its metadata segments, which 64 KiB covers
	// for all but photos with huge embedded previews (those get no
	// width/height attributes, and the style sheet still bounds them).
	imageHeadBytes = 64 << 10
	// thumbMaxWidth and thumbMaxHeight bound a thumbnail in CSS pixels.
	thumbMaxWidth  = 320
	thumbMaxHeight = 240
)

// thumbTypes are the sniffed content types shown as thumbnails.
var thumbTypes = map[string]bool{
	"image/png":  true,
	"image/jpeg": true,
	"image/gif":  true,
	"image/webp": true,
}

// imageSize returns the pixel dimensions of the image that head starts,
// or false if they cannot be read from it.
func imageSize(head []byte, ctype string) (w, h int, ok bool) {
	if ctype == "image/webp" {
		return webpSize(head)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(head))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// webpSize reads the dimensions from a WebP file's first chunk, in each of
// the three layouts the format has (lossy "VP8 ", lossless "VP8L" and
// extended "VP8X"). The standard library has no WebP decoder, and these
// few fixed offsets are all a thumbnail needs.
func webpSize(b []byte) (w, h int, ok bool) {
	if len(b) < 30 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return 0, 0, false
	}
	switch string(b[12:16]) {
	case "VP8 ":
		// Frame header: 3 bytes of frame tag, start code 9d 01 2a, then
		// 14-bit width and height (the top 2 bits are scaling).
		if b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a {
			return 0, 0, false
		}
		w = int(binary.LittleEndian.Uint16(b[26:28]) & 0x3fff)
		h = int(binary.LittleEndian.Uint16(b[28:30]) & 0x3fff)
	case "VP8L":
		// Signature 0x2f, then width-1 and height-1 in 14 bits each.
		if b[20] != 0x2f {
			return 0, 0, false
		}
		bits := binary.LittleEndian.Uint32(b[21:25])
		w = int(bits&0x3fff) + 1
		h = int(bits>>14&0x3fff) + 1
	case "VP8X":
		// Flags and reserved bytes, then canvas width-1 and height-1 in
		// 24 bits each.
		w = int(uint32(b[24])|uint32(b[25])<<8|uint32(b[26])<<16) + 1
		h = int(uint32(b[27])|uint32(b[28])<<8|uint32(b[29])<<16) + 1
	default:
		return 0, 0, false
	}
	return w, h, w > 0 && h > 0
}

// thumbSize scales w×h down to fit thumbMaxWidth×thumbMaxHeight, keeping
// the aspect ratio; smaller images keep their size.
func thumbSize(w, h int) (tw, th int) {
	tw, th = w, h
	if tw > thumbMaxWidth {
		th = max(1, th*thumbMaxWidth/tw)
		tw = thumbMaxWidth
	}
	if th > thumbMaxHeight {
		tw = max(1, tw*thumbMaxHeight/th)
		th = thumbMaxHeight
	}
	return tw, th
}
