package grpcopts

import "testing"

// gRPC ignores windows under 64 KiB and then keeps estimating them, which
// is what these options exist to stop.
func TestWindowsAreStaticAndLargeEnoughToTakeEffect(t *testing.T) {
	t.Parallel()
	const grpcMinimum = 64 << 10
	if StreamWindow < grpcMinimum || ConnWindow < grpcMinimum {
		t.Errorf("windows %d and %d: gRPC ignores windows under %d", StreamWindow, ConnWindow, grpcMinimum)
	}
	if len(ServerOptions()) != 2 || len(DialOptions()) != 2 {
		t.Errorf("want the stream and the connection window on both ends")
	}
}
