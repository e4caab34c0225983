package hostsdk

import (
	"fmt"
	"time"

	"github.com/pagechat/pagechat/internal/limits"
)

// WithTranscriptDelay sets how long after a room's latest activity the
// plugin brings that day's transcript page up to date (default 60 s, at
// most 1 h). Under constant activity a page is still written at least every
// five delays.
func WithTranscriptDelay(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < time.Millisecond || d > limits.MaxTranscriptDelay {
			return fmt.Errorf("WithTranscriptDelay: %v out of range 1ms..%v", d, limits.MaxTranscriptDelay)
		}
		c.transcriptDelay = d
		return nil
	})
}

// WithTimeZone sets the IANA time zone (e.g. "Europe/Berlin") whose
// midnight separates one transcript day from the next, and in which
// transcripts show times (default UTC).
func WithTimeZone(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" {
			return fmt.Errorf("WithTimeZone: empty time zone name; leave the option out for UTC")
		}
		if _, err := time.LoadLocation(name); err != nil {
			return fmt.Errorf("WithTimeZone: %q is not an IANA time zone: %w", name, err)
		}
		c.timeZone = name
		return nil
	})
}
