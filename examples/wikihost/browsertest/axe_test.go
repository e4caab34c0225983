package browsertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// axeScript returns axe-core's source, which scripts/test.sh installs with
// npm into .cache/axe at the repository root ($PAGECHAT_AXE names another
// axe.min.js). Without it the accessibility checks are skipped, loudly;
// on CI, where test.sh installs it, they fail instead.
func axeScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PAGECHAT_AXE")
	if path == "" {
		path = filepath.Join("..", "..", "..", ".cache", "axe", "node_modules", "axe-core", "axe.min.js")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		msg := fmt.Sprintf("SKIPPED: accessibility checks: axe-core not found (%v); run scripts/test.sh, which installs it with npm, or set $PAGECHAT_AXE to an axe.min.js", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return string(src)
}

// axeViolation is one rule axe-core found broken, with where.
type axeViolation struct {
	ID      string     `json:"id"`
	Impact  string     `json:"impact"`
	Help    string     `json:"help"`
	Targets [][]string `json:"targets"`
}

// checkAxe runs axe-core on what p shows now and fails the test for every
// serious or critical violation (WCAG 2.x A and AA rules and axe's best
// practices); moderate and minor ones are logged.
func checkAxe(t *testing.T, p *tab, src string) {
	t.Helper()
	// Runtime.evaluate runs outside the page's CSP: the popup's policy
	// allows no inline script, which is what axe would otherwise be.
	eval[bool](t, p, "load axe-core", src+"\n;true")
	found := eval[[]axeViolation](t, p, "run axe-core", `axe.run(document, {resultTypes: ["violations"]}).then(r =>
		r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help, targets: v.nodes.map(n => n.target)})))`)
	for _, v := range found {
		where := make([]string, 0, len(v.Targets))
		for _, tg := range v.Targets {
			where = append(where, strings.Join(tg, " "))
		}
		msg := fmt.Sprintf("%s: axe %s (%s): %s at %s", p.label, v.ID, v.Impact, v.Help, strings.Join(where, ", "))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}
