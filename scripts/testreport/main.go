// Command testreport reads the output of `go test -json` on stdin and
// prints it for people: each package's result as it finishes, the output of
// every failed test, build failures and packages that failed outside any
// test (a panic, a TestMain that exits non-zero, a timeout), then every
// skipped test with the reason it gave, grouped by package and reason, and
// one summary line:
//
//	N passed, N failed, N skipped (packages: N ok, N failed)
//
// Counts include subtests. It exits 1 if anything failed, or if the input
// held no test results at all. With -summary FILE it also writes the
// summary line and one line per group of skipped tests to FILE, for the
// test script's closing summary; with -trim PREFIX, package paths under
// PREFIX are shown as ./rest.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
)

// event is one line of `go test -json`: a test event (Package set) or,
// since Go 1.24, a build event (ImportPath set).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	Elapsed     float64
	FailedBuild string
	ImportPath  string
}

type pkg struct {
	name                    string
	done                    bool
	output                  strings.Builder // output outside any test
	tests                   map[string]*test
	order                   []string // test names, in the order they started
	passed, failed, skipped int
	skips                   []skip
}

type test struct {
	own  strings.Builder // the test's own output
	tree strings.Builder // for a top-level test: its output and its subtests'
	done bool
}

type skip struct{ test, reason string }

type report struct {
	w           io.Writer
	pkgs        map[string]*pkg
	order       []string
	build       map[string]*strings.Builder // build output by ImportPath
	buildFailed map[string]bool
	buildShown  map[string]bool
	failures    []string // one line per failure, for the recap
	passed      int
	failed      int
	skipped     int
	pkgOK       int
	pkgFailed   int
	trim        string // prefix removed from package paths when shown
}

func newReport(w io.Writer, trim string) *report {
	return &report{w: w, trim: trim, pkgs: map[string]*pkg{}, build: map[string]*strings.Builder{},
		buildFailed: map[string]bool{}, buildShown: map[string]bool{}}
}

func (r *report) pkg(name string) *pkg {
	p := r.pkgs[name]
	if p == nil {
		p = &pkg{name: name, tests: map[string]*test{}}
		if r.trim != "" && strings.HasPrefix(name, r.trim) {
			p.name = "./" + strings.TrimPrefix(name, r.trim)
		}
		r.pkgs[name] = p
		r.order = append(r.order, name)
	}
	return p
}

// line handles one line of input; lines that are not test or build events
// are passed through as they are.
func (r *report) line(s string) {
	var e event
	if json.Unmarshal([]byte(s), &e) != nil || e.Action == "" {
		fmt.Fprintln(r.w, s)
		return
	}
	switch e.Action {
	case "build-output":
		if r.build[e.ImportPath] == nil {
			r.build[e.ImportPath] = &strings.Builder{}
		}
		r.build[e.ImportPath].WriteString(e.Output)
		return
	case "build-fail":
		r.buildFailed[e.ImportPath] = true
		return
	}
	if e.Package == "" {
		return
	}
	p := r.pkg(e.Package)
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.output.WriteString(e.Output)
		case "pass", "fail", "skip":
			r.finishPkg(p, e)
		}
		return
	}
	t := p.tests[e.Test]
	if t == nil {
		t = &test{}
		p.tests[e.Test] = t
		p.order = append(p.order, e.Test)
	}
	root := p.tests[rootOf(e.Test)]
	switch e.Action {
	case "output":
		t.own.WriteString(e.Output)
		if root != nil {
			root.tree.WriteString(e.Output)
		}
	case "pass":
		t.done = true
		p.passed++
	case "skip":
		t.done = true
		p.skipped++
		p.skips = append(p.skips, skip{e.Test, skipReason(t.own.String())})
	case "fail":
		t.done = true
		p.failed++
		if e.Test == rootOf(e.Test) {
			fmt.Fprintf(r.w, "--- FAIL: %s %s\n", p.name, e.Test)
			writeIndented(r.w, t.tree.String())
			r.failures = append(r.failures, "FAIL "+p.name+" "+e.Test)
		}
	}
}

func rootOf(name string) string {
	root, _, _ := strings.Cut(name, "/")
	return root
}

// finishPkg reports a package's result; a failed package with no failed
// test failed to build or failed outside its tests, and its output says why.
func (r *report) finishPkg(p *pkg, e event) {
	p.done = true
	if e.Action == "skip" { // no test files
		return
	}
	unfinished := r.unfinished(p)
	counts := fmt.Sprintf("(%d passed, %d failed, %d skipped)", p.passed, p.failed, p.skipped)
	switch {
	case e.Action == "pass" && unfinished == 0:
		r.pkgOK++
		fmt.Fprintf(r.w, "ok   %s %.1fs %s\n", p.name, e.Elapsed, counts)
	case e.FailedBuild != "":
		r.pkgFailed++
		what := "build failed"
		if !strings.HasPrefix(e.FailedBuild, e.Package+" ") && e.FailedBuild != e.Package {
			what += " in " + e.FailedBuild // a dependency, or a missing one
		}
		fmt.Fprintf(r.w, "FAIL %s: %s\n", p.name, what)
		if !r.buildShown[e.FailedBuild] {
			r.buildShown[e.FailedBuild] = true
			writeIndented(r.w, r.buildOutput(e.FailedBuild))
		}
		r.failures = append(r.failures, "FAIL "+p.name+": "+what)
	default:
		r.pkgFailed++
		extra := outsideOutput(p.output.String())
		if p.failed == 0 && unfinished == 0 {
			if extra == "" {
				extra = p.output.String()
			}
			r.failures = append(r.failures, "FAIL "+p.name+": failed outside its tests")
		}
		if extra != "" {
			fmt.Fprintf(r.w, "--- FAIL: %s, outside its tests (TestMain, init, a panic):\n", p.name)
			writeIndented(r.w, extra)
		}
		fmt.Fprintf(r.w, "FAIL %s %.1fs %s\n", p.name, e.Elapsed, counts)
	}
}

// outsideOutput is a package's output outside its tests without the lines
// go test always prints there (PASS, FAIL, the result line).
func outsideOutput(s string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		t := strings.TrimRight(l, "\n")
		if t == "PASS" || t == "FAIL" || strings.HasPrefix(t, "FAIL\t") || strings.HasPrefix(t, "ok  \t") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// unfinished reports the tests of p that started and never ended (the
// package timed out or crashed in them) as failed, with their output.
func (r *report) unfinished(p *pkg) int {
	n := 0
	for _, name := range p.order {
		t := p.tests[name]
		if t.done {
			continue
		}
		t.done = true
		n++
		p.failed++
		if name == rootOf(name) {
			fmt.Fprintf(r.w, "--- FAIL: %s %s did not finish (timeout or crash)\n", p.name, name)
			writeIndented(r.w, t.tree.String())
			r.failures = append(r.failures, "FAIL "+p.name+" "+name+" (did not finish)")
		}
	}
	return n
}

func (r *report) buildOutput(importPath string) string {
	if b := r.build[importPath]; b != nil {
		return b.String()
	}
	return "(no build output)\n"
}

// finish ends the report: packages without a result fail, then come the
// recap of failures, the skipped tests and the summary line. It returns
// the summary line and one line per group of skipped tests.
func (r *report) finish() (summary string, skipLines []string) {
	for _, name := range r.order {
		if p := r.pkgs[name]; !p.done {
			r.unfinished(p)
			fmt.Fprintf(r.w, "FAIL %s: no result (the test run stopped early)\n", p.name)
			r.pkgFailed++
			r.failures = append(r.failures, "FAIL "+p.name+": no result")
		}
	}
	for _, ip := range slices.Sorted(maps.Keys(r.buildFailed)) { // failed builds no package pointed at
		if !r.buildShown[ip] {
			fmt.Fprintf(r.w, "FAIL build of %s\n", ip)
			writeIndented(r.w, r.buildOutput(ip))
			r.failures = append(r.failures, "FAIL build of "+ip)
		}
	}
	fmt.Fprintln(r.w)
	for _, f := range r.failures {
		fmt.Fprintln(r.w, f)
	}
	for _, name := range r.order {
		p := r.pkgs[name]
		r.passed += p.passed
		r.failed += p.failed
		r.skipped += p.skipped
		for _, g := range groupSkips(p.skips) {
			scope := fmt.Sprintf("%d %s", len(g.tests), plural(len(g.tests), "test"))
			if p.passed == 0 && p.failed == 0 {
				scope = "the whole package, " + scope
			}
			line := fmt.Sprintf("SKIPPED %s: %s: %s", p.name, scope, g.reason)
			skipLines = append(skipLines, line)
			fmt.Fprintf(r.w, "%s\n        %s\n", line, strings.Join(g.tests, ", "))
		}
	}
	summary = fmt.Sprintf("%d passed, %d failed, %d skipped (packages: %d ok, %d failed)",
		r.passed, r.failed, r.skipped, r.pkgOK, r.pkgFailed)
	if len(r.order) == 0 {
		summary = "no test results: go test ran no package"
	}
	fmt.Fprintln(r.w, summary)
	return summary, skipLines
}

func (r *report) ok() bool {
	return len(r.order) > 0 && len(r.failures) == 0 && r.failed == 0 && r.pkgFailed == 0
}

type skipGroup struct {
	reason string
	tests  []string
}

func groupSkips(skips []skip) []skipGroup {
	var groups []skipGroup
	index := map[string]int{}
	for _, s := range skips {
		i, ok := index[s.reason]
		if !ok {
			i = len(groups)
			index[s.reason] = i
			groups = append(groups, skipGroup{reason: s.reason})
		}
		groups[i].tests = append(groups[i].tests, s.test)
	}
	return groups
}

// logLine matches the first line of a t.Log, t.Skip or t.Error message.
var logLine = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: (.*)$`)

// skipReason finds the t.Skip message in a skipped test's output: its last
// logged message, whose further lines are joined to the first with " / ".
func skipReason(output string) string {
	var msg []string
	for l := range strings.Lines(output) {
		l = strings.TrimRight(l, "\n")
		switch {
		case strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- "):
		case logLine.MatchString(l):
			msg = []string{logLine.FindStringSubmatch(l)[1]}
		case msg != nil && strings.TrimSpace(l) != "":
			msg = append(msg, strings.TrimSpace(l))
		}
	}
	if msg == nil {
		return "(no reason given)"
	}
	return strings.Join(msg, " / ")
}

func writeIndented(w io.Writer, s string) {
	for l := range strings.Lines(s) {
		fmt.Fprintf(w, "    %s", l)
		if !strings.HasSuffix(l, "\n") {
			fmt.Fprintln(w)
		}
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// run reads in and reports to out; it is main without the process.
func run(in io.Reader, out io.Writer, trim string) (r *report, summary string, skipLines []string, err error) {
	r = newReport(out, trim)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		r.line(sc.Text())
	}
	summary, skipLines = r.finish()
	return r, summary, skipLines, sc.Err()
}

func main() {
	summaryFile := flag.String("summary", "", "also write the summary line and the skipped-test lines to `file`")
	trim := flag.String("trim", "", "show package paths that start with `prefix` as ./ and the rest")
	flag.Parse()
	r, summary, skipLines, err := run(os.Stdin, os.Stdout, *trim)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport: reading input:", err)
		os.Exit(1)
	}
	if *summaryFile != "" {
		text := strings.Join(append([]string{summary}, skipLines...), "\n") + "\n"
		if err := os.WriteFile(*summaryFile, []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
	}
	if !r.ok() {
		os.Exit(1)
	}
}
