package hostsdk

import "testing"

func TestWithUploadBytesPerHour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int64
		ok   bool
		want int64
	}{
		{50 << 20, true, 50 << 20},
		{-1, true, -1},
		{0, false, 0},
		{-2, false, 0},
	}
	for _, tt := range tests {
		var c config
		err := WithUploadBytesPerHour(tt.n).apply(&c)
		if (err == nil) != tt.ok || c.uploadPerHour != tt.want {
			t.Errorf("WithUploadBytesPerHour(%d) = %v, setting %d; want ok=%v, setting %d", tt.n, err, c.uploadPerHour, tt.ok, tt.want)
		}
	}
}
