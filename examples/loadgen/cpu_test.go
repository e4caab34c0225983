package main

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStatTicksCountsAfterTheCommandName(t *testing.T) {
	t.Parallel()
	// The command name may hold spaces and parentheses; utime (14) and
	// stime (15) are counted from after its closing parenthesis.
	line := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 700 55 0 0 20 0 9 0 123 456 789\n"
	tests := []struct {
		name string
		line string
		want int64
		ok   bool
	}{
		{"name with spaces and parentheses", line, 755, true},
		{"no closing parenthesis", "4242 (abc S 1", -1, false},
		{"short line", "4242 (abc) S 1 2 3", -1, false},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 5 0", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatTicks([]byte(tt.line))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseStatTicks = %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseCPUTargets(t *testing.T) {
	t.Parallel()
	got, err := parseCPUTargets(" wiki=12, plugin=34 ,")
	if err != nil || len(got) != 2 || got[0] != (cpuTarget{"wiki", 12}) || got[1] != (cpuTarget{"plugin", 34}) {
		t.Errorf("parseCPUTargets = %v, %v", got, err)
	}
	for _, bad := range []string{"wiki", "=12", "wiki=x", "wiki=0", "wiki=-3"} {
		if _, err := parseCPUTargets(bad); err == nil {
			t.Errorf("parseCPUTargets(%q): no error", bad)
		}
	}
}

func TestCPUMeterDividesByAckedMessages(t *testing.T) {
	t.Parallel()
	m := newCPUMeter([]cpuTarget{{"wiki", 10}, {"gone", 11}})
	at := time.Unix(1000, 0)
	from := cpuSnapshot{at: at, ticks: []int64{5, 100, 7}, errs: []error{nil, nil, nil}}
	to := cpuSnapshot{at: at.Add(2 * time.Second), ticks: []int64{25, 200, -1}, errs: []error{nil, nil, errors.New("exited")}}
	got := m.result(from, to, 500)
	// wiki: 100 ticks = 1 s of CPU over 500 messages = 2 ms each, over
	// 2 s of wall time = half a core.
	if w := got[1]; w.CPUS != 1 || w.MsPerMsg != 2 || w.Cores != 0.5 {
		t.Errorf("wiki = %+v, want 1 s, 2 ms per message, 0.5 cores", w)
	}
	if l := got[0]; l.Name != "loadgen" || l.MsPerMsg != 0.4 {
		t.Errorf("tool = %+v, want loadgen at 0.4 ms per message", l)
	}
	if g := got[2]; g.Error == "" || g.MsPerMsg != 0 {
		t.Errorf("exited process = %+v, want an error and no figures", g)
	}
	if s := serverMsPerMsg(got); s != 2 {
		t.Errorf("server total = %v ms, want 2 (the tool and the unreadable process left out)", s)
	}
}

func TestCPUMeterReadsThisProcess(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	m := newCPUMeter([]cpuTarget{{"self", os.Getpid()}})
	s := m.snapshot()
	for i, err := range s.errs {
		if err != nil || s.ticks[i] < 0 {
			t.Errorf("%s: ticks %d, %v", m.targets[i].Name, s.ticks[i], err)
		}
	}
}
