package macro

import "testing"

func TestCheckParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		params map[string]string
		ok     bool
		sound  bool
	}{
		{nil, true, false},
		{map[string]string{"sound": "on"}, true, true},
		{map[string]string{"Sound": "YES"}, true, true},
		{map[string]string{"sound": "loud"}, false, false},
		{map[string]string{"colour": "red"}, false, false},
	}
	for _, tt := range tests {
		err := CheckParams(tt.params)
		if (err == nil) != tt.ok {
			t.Errorf("CheckParams(%v) = %v, want ok=%v", tt.params, err, tt.ok)
		}
		if got := SoundParam(tt.params); got != tt.sound {
			t.Errorf("SoundParam(%v) = %v, want %v", tt.params, got, tt.sound)
		}
	}
}
