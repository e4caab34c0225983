package buildfail

import "testing"

// TestNeverBuilt calls a function that does not exist, so the package
// fails to build and no test runs.
func TestNeverBuilt(t *testing.T) {
	notDefinedAnywhere()
}
