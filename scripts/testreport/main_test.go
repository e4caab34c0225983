package main

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestRealGoTest runs go test -json on the failing and skipping packages
// under testdata and checks that every kind of failure is reported and
// counted, including the two with no failed test: a package that does not
// build and a package whose TestMain exits 1.
func TestRealGoTest(t *testing.T) {
	cmd := exec.Command("go", "test", "-json", "-count=1", "-timeout", "2s",
		"./testdata/buildfail", "./testdata/mainexit", "./testdata/mixed", "./testdata/allskipped", "./testdata/timeout")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stream, err := cmd.Output()
	if err == nil {
		t.Fatalf("go test passed on packages made to fail; stderr:\n%s", &stderr)
	}
	var out bytes.Buffer
	r, summary, skipLines, err := run(bytes.NewReader(stream), &out, "github.com/pagechat/pagechat/scripts/testreport/")
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Logf("report:\n%s", text)

	if r.ok() {
		t.Error("report is ok; want it failed")
	}
	// Passed: mixed's TestPasses, TestSubtests and TestSubtests/passes,
	// mainexit's TestPasses. Failed: TestFails and the hung TestHangs.
	// Skipped: two in mixed, two in allskipped. Only allskipped is ok.
	if want := "4 passed, 2 failed, 4 skipped (packages: 1 ok, 4 failed)"; summary != want {
		t.Errorf("summary %q, want %q", summary, want)
	}
	if !strings.HasSuffix(text, summary+"\n") {
		t.Error("the report does not end with the summary line")
	}
	for _, want := range []string{
		"FAIL ./testdata/buildfail: build failed\n",
		"undefined: notDefinedAnywhere",
		"FAIL ./testdata/mainexit: failed outside its tests",
		"TestMain: found something wrong after the tests",
		"--- FAIL: ./testdata/mixed TestFails\n",
		"mixed_test.go:8: a log line before the failure",
		"mixed_test.go:9: the failure itself",
		"--- FAIL: ./testdata/timeout TestHangs did not finish",
		"panic: test timed out after 2s",
		"FAIL ./testdata/timeout TestHangs (did not finish)",
		"ok   ./testdata/allskipped ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(text, "TestPasses\n") || strings.Contains(text, "--- PASS") {
		t.Error("report shows the output of passing tests")
	}
	wantSkips := []string{
		"SKIPPED ./testdata/mixed: 1 test: first line of the reason / second line",
		"SKIPPED ./testdata/mixed: 1 test: a subtest's reason",
		"SKIPPED ./testdata/allskipped: the whole package, 2 tests: no browser here",
	}
	if !slices.Equal(skipLines, wantSkips) {
		t.Errorf("skip lines:\n%s\nwant:\n%s", strings.Join(skipLines, "\n"), strings.Join(wantSkips, "\n"))
	}
	if !strings.Contains(text, wantSkips[2]+"\n        TestOne, TestTwo\n") {
		t.Error("the whole-package skip does not list its tests under one line")
	}
}

func TestStreamEndsEarly(t *testing.T) {
	in := `{"Action":"start","Package":"example.com/p"}
{"Action":"run","Package":"example.com/p","Test":"TestA"}
{"Action":"output","Package":"example.com/p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"example.com/p","Test":"TestA","Output":"still working\n"}
`
	var out bytes.Buffer
	r, summary, _, err := run(strings.NewReader(in), &out, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.ok() {
		t.Error("a package without a result counts as ok")
	}
	if want := "0 passed, 1 failed, 0 skipped (packages: 0 ok, 1 failed)"; summary != want {
		t.Errorf("summary %q, want %q", summary, want)
	}
	for _, want := range []string{"FAIL example.com/p: no result", "TestA did not finish", "still working"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, &out)
		}
	}
}

func TestNothingRanIsNotOK(t *testing.T) {
	var out bytes.Buffer
	r, _, _, err := run(strings.NewReader("go: some early error\n"), &out, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.ok() {
		t.Error("a run without any package counts as ok")
	}
	if !strings.HasPrefix(out.String(), "go: some early error\n") {
		t.Errorf("a line that is not JSON is not passed through:\n%s", &out)
	}
}

func TestSkipReason(t *testing.T) {
	for _, c := range []struct{ output, want string }{
		{"=== RUN   TestX\n    x_test.go:3: why\n--- SKIP: TestX (0.00s)\n", "why"},
		{"=== RUN   TestX\n    x_test.go:3: a log\n    x_test.go:4: why: it: has colons\n", "why: it: has colons"},
		{"    x_test.go:4: one\n        two\n", "one / two"},
		{"=== RUN   TestX\n--- SKIP: TestX (0.00s)\n", "(no reason given)"},
	} {
		if got := skipReason(c.output); got != c.want {
			t.Errorf("skipReason(%q) = %q, want %q", c.output, got, c.want)
		}
	}
}
