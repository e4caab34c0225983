package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU accounting: the figure that tells a quiet room's cost is the CPU
// time the server spends per message. The tool reads it from Linux's
// /proc/PID/stat (utime + stime, all threads) at the start of the send
// phase and after the settle phase, for each process named with -cpu-pid
// and for itself, so its own share stays visible on a shared machine.

// userHZ is the unit of utime and stime in /proc/PID/stat. Linux fixes it
// at 100 for user space on every architecture Go supports (USER_HZ), so
// reading it with sysconf (cgo) would only ever give the same number.
const userHZ = 100

// cpuTarget is one process whose CPU time a run measures.
type cpuTarget struct {
	Name string
	PID  int
}

// parseCPUTargets parses -cpu-pid: comma-separated NAME=PID pairs.
func parseCPUTargets(s string) ([]cpuTarget, error) {
	var out []cpuTarget
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, pid, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(pid)
		if !ok || name == "" || err != nil || n <= 0 {
			return nil, fmt.Errorf("-cpu-pid %q: want NAME=PID, e.g. wiki=1234", part)
		}
		out = append(out, cpuTarget{Name: name, PID: n})
	}
	return out, nil
}

// ProcCPU is one process's CPU time over the measured part of a run.
type ProcCPU struct {
	Name string `json:"name"`
	PID  int    `json:"pid,omitempty"` // 0 for the tool itself
	// CPUS is user + system CPU seconds from the start of the send phase
	// to the end of the settle phase.
	CPUS float64 `json:"cpu_s"`
	// MsPerMsg is CPUS per acknowledged message, in milliseconds.
	MsPerMsg float64 `json:"ms_per_msg"`
	// Cores is CPUS over the wall time of the window: the share of one
	// core the process kept busy.
	Cores float64 `json:"cores"`
	// Error says why the process could not be measured (it exited, or
	// this is not Linux); the figures are then zero.
	Error string `json:"error,omitempty"`
}

// cpuSnapshot is the CPU time of every measured process at one moment.
type cpuSnapshot struct {
	at    time.Time
	ticks []int64 // per cpuMeter.targets; -1 where it could not be read
	errs  []error
}

// cpuMeter reads the CPU time of a fixed list of processes, the tool
// itself first.
type cpuMeter struct {
	targets []cpuTarget
}

func newCPUMeter(targets []cpuTarget) *cpuMeter {
	return &cpuMeter{targets: append([]cpuTarget{{Name: "loadgen"}}, targets...)}
}

func (m *cpuMeter) snapshot() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), ticks: make([]int64, len(m.targets)), errs: make([]error, len(m.targets))}
	for i, t := range m.targets {
		path := "/proc/self/stat"
		if t.PID != 0 {
			path = "/proc/" + strconv.Itoa(t.PID) + "/stat"
		}
		s.ticks[i], s.errs[i] = readStatTicks(path)
	}
	return s
}

// result turns two snapshots into per-process figures for acked messages.
func (m *cpuMeter) result(from, to cpuSnapshot, acked int64) []ProcCPU {
	wall := to.at.Sub(from.at).Seconds()
	out := make([]ProcCPU, len(m.targets))
	for i, t := range m.targets {
		p := ProcCPU{Name: t.Name, PID: t.PID}
		switch {
		case from.errs[i] != nil:
			p.Error = from.errs[i].Error()
		case to.errs[i] != nil:
			p.Error = to.errs[i].Error()
		default:
			p.CPUS = round3(float64(to.ticks[i]-from.ticks[i]) / userHZ)
			if acked > 0 {
				p.MsPerMsg = round3(p.CPUS * 1000 / float64(acked))
			}
			if wall > 0 {
				p.Cores = round3(p.CPUS / wall)
			}
		}
		out[i] = p
	}
	return out
}

// serverMsPerMsg sums the processes other than the tool.
func serverMsPerMsg(procs []ProcCPU) float64 {
	var sum float64
	for _, p := range procs {
		if p.PID != 0 && p.Error == "" {
			sum += p.MsPerMsg
		}
	}
	return round3(sum)
}

// readStatTicks returns utime + stime from a /proc/PID/stat file.
func readStatTicks(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1, fmt.Errorf("cpu time: %w", err)
	}
	return parseStatTicks(b)
}

// parseStatTicks reads utime and stime, fields 14 and 15 of proc(5)'s
// stat line. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so counting starts after the last ')'.
func parseStatTicks(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1, errors.New("cpu time: no ')' in stat line")
	}
	// After ") " come field 3 (state) onwards; utime is field 14.
	fields := strings.Fields(string(b[i+1:]))
	const utime = 14 - 3
	if len(fields) <= utime+1 {
		return -1, errors.New("cpu time: short stat line")
	}
	u, err1 := strconv.ParseInt(fields[utime], 10, 64)
	s, err2 := strconv.ParseInt(fields[utime+1], 10, 64)
	if err1 != nil || err2 != nil {
		return -1, errors.New("cpu time: bad utime or stime in stat line")
	}
	return u + s, nil
}

// formatCPU is the human summary line of the CPU figures.
func formatCPU(procs []ProcCPU, acked int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "loadgen: CPU per message over %d acknowledged messages:", acked)
	for _, p := range procs {
		if p.Error != "" {
			fmt.Fprintf(&b, " %s ?(%s)", p.Name, p.Error)
			continue
		}
		fmt.Fprintf(&b, " %s %.3f ms (%.2f cores)", p.Name, p.MsPerMsg, p.Cores)
	}
	if len(procs) > 1 {
		fmt.Fprintf(&b, "; server total %.3f ms", serverMsPerMsg(procs))
	}
	return b.String()
}
