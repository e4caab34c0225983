// Package humansize formats byte counts for people. The plugin's macro
// table and upload announcements and the example wiki's attachment list
// all use it, so one file shows the same size everywhere.
package humansize

import "fmt"

// Format formats n in bytes below 1 KiB and otherwise in KiB or MiB with one
// decimal: binary units, because that is how file systems report sizes
// and so what users compare against.
func Format(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
