package testutil

import (
	"sync"
	"time"
)

// Clock is a time source tests set and move by hand, safe for concurrent
// use, for code that takes a func() time.Time or a Now method.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	tick time.Duration // added before every reading; 0 for a still clock
}

// NewClock returns a clock reading t until it is set or advanced.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// NewTickingClock returns a clock that moves forward by tick before every
// reading, starting from start: each reading is distinct and predictable,
// as when every commit must get its own time.
func NewTickingClock(start time.Time, tick time.Duration) *Clock {
	return &Clock{t: start, tick: tick}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.tick)
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
