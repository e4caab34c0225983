package macro

import (
	"maps"
	"slices"
	"strings"
)

// CheckParams validates macro parameters that arrive as a map, as they do
// when a host passes a parsed macro to the plugin. Keys are matched without
// regard to case, like Parse does; the first problem in key order is
// reported so the message is stable.
func CheckParams(params map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if err := checkParam(strings.ToLower(k), params[k]); err != nil {
			return err
		}
	}
	return nil
}

// SoundParam reports whether params switch the notification sound on.
func SoundParam(params map[string]string) bool {
	for k, v := range params {
		if strings.EqualFold(k, ParamSound) {
			on, ok := parseSwitch(v)
			return ok && on
		}
	}
	return false
}
