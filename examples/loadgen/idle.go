package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The idle mode (-idle D) measures what open but quiet chat windows cost
// the server: it opens -rooms × -subs event streams, sends nothing, lets
// them settle for -settle, then reads the memory and CPU time of the
// process -watch-pid names and of its children (the wiki and its plugin)
// over a window of D. Memory is resident set size from /proc/PID/status,
// taken once before any stream opens and once at the end of the window,
// so the difference divided by the streams is the cost of one viewer. CPU
// is utime+stime from /proc/PID/stat across the window.

// idleReadyTimeout bounds opening the streams of an idle run: ten
// thousand of them take a while on a small machine, and nothing is timed
// until they are all open.
const idleReadyTimeout = 5 * time.Minute

// idleSetupTimeout bounds the set-up of an idle run: a thousand or more
// viewer users, each logged in with a bcrypt check on the server.
const idleSetupTimeout = 20 * time.Minute

// clockTicks is the unit of utime and stime in /proc/PID/stat. Linux has
// reported them in USER_HZ = 100 on every architecture for decades;
// reading it properly needs sysconf, which Go does not expose.
const clockTicks = 100

// IdleResult is the JSON line of an idle run.
type IdleResult struct {
	Rooms   int     `json:"rooms"`
	Streams int     `json:"streams"`  // streams asked for
	Open    int     `json:"open"`     // streams open at the start of the window
	WindowS float64 `json:"window_s"` // length of the measured window

	Processes []IdleProcess `json:"processes"`
	// Totals over the processes: resident memory added per stream, and
	// CPU over the window in per cent of one core.
	RSSPerStreamKiB float64 `json:"rss_per_stream_kib"`
	CPUPct          float64 `json:"cpu_pct"`

	Heartbeats   int64 `json:"heartbeats"`    // SSE comment lines received over the whole run
	StreamErrors int64 `json:"stream_errors"` // should be 0: nothing should break while idle
	Reconnects   int64 `json:"reconnects"`
}

// IdleProcess is one watched process.
type IdleProcess struct {
	PID             int     `json:"pid"`
	Name            string  `json:"name"`
	RSSBeforeKiB    int64   `json:"rss_before_kib"` // before any stream opened
	RSSAfterKiB     int64   `json:"rss_after_kib"`  // at the end of the window
	RSSPerStreamKiB float64 `json:"rss_per_stream_kib"`
	CPUPct          float64 `json:"cpu_pct"` // per cent of one core over the window
}

// procSample is one reading of a process.
type procSample struct {
	name   string
	rssKiB int64
	ticks  int64 // utime + stime
}

// readProc reads pid's resident memory and CPU time from /proc.
func readProc(pid int) (procSample, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return procSample{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	var s procSample
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			s.name = v
		case "VmRSS":
			n, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
			if err != nil {
				return procSample{}, fmt.Errorf("process %d: VmRSS %q: %w", pid, v, err)
			}
			s.rssKiB = n
		}
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return procSample{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from the last ')'. utime and stime are fields 14 and 15,
	// the 12th and 13th after it.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procSample{}, fmt.Errorf("process %d: unreadable stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return procSample{}, fmt.Errorf("process %d: short stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return procSample{}, fmt.Errorf("process %d: stat times: %w", pid, err)
	}
	s.ticks = ut + st
	return s, nil
}

// processTree returns pid and its children (the wiki and the plugin it
// started), from /proc/PID/task/*/children.
func processTree(pid int) []int {
	out := []int{pid}
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	seen := map[int]bool{pid: true}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(b)) {
			if c, err := strconv.Atoi(f); err == nil && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// sampleAll reads every pid; a process that has gone reads as zero.
func sampleAll(pids []int) map[int]procSample {
	out := make(map[int]procSample, len(pids))
	for _, p := range pids {
		if s, err := readProc(p); err == nil {
			out[p] = s
		}
	}
	return out
}

// runIdle performs an idle run (see the top of this file).
func runIdle(ctx context.Context, cfg Config, log io.Writer) (IdleResult, error) {
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = idleReadyTimeout
	}
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = idleSetupTimeout
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return IdleResult{}, err
	}
	if cfg.WatchPID <= 0 {
		return IdleResult{}, errors.New("-idle needs -watch-pid: the wiki's process id")
	}
	if _, err := readProc(cfg.WatchPID); err != nil {
		return IdleResult{}, fmt.Errorf("-watch-pid: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout+cfg.ReadyTimeout+cfg.Settle+cfg.Idle+time.Minute)
	defer cancel()

	streams := cfg.Rooms * cfg.Subs
	hc := newHTTPClient(streams + setupParallel + 8)
	defer hc.CloseIdleConnections()
	api := newAPIClient(cfg.URL, hc)
	runID := strings.ToLower(rand.Text()[:8])
	errs := newErrorLog(log, 20)
	fmt.Fprintf(log, "loadgen: idle run %s: creating %d rooms and %d viewer users on %s\n", runID, cfg.Rooms, cfg.viewers(), cfg.URL)
	setupCtx, setupDone := context.WithTimeout(ctx, cfg.SetupTimeout)
	p, err := setup(setupCtx, api, cfg, runID, log)
	setupDone()
	if err != nil {
		return IdleResult{}, fmt.Errorf("setup: %w", err)
	}

	pids := processTree(cfg.WatchPID)
	before := sampleAll(pids)

	c := &counters{}
	clk := newClock()
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var subWG sync.WaitGroup
	subs := make([]*subscriber, 0, streams)
	for _, r := range p.rooms {
		for range cfg.Subs {
			viewer := p.viewers[len(subs)/cfg.StreamsPerUser]
			s := newSubscriber(r, []*apiClient{api}, 0, api.base, viewer, cfg, clk, c, errs)
			subs = append(subs, s)
			subWG.Go(func() { s.run(streamCtx) })
		}
	}
	readyStart := time.Now()
	ready := make([]chan struct{}, len(subs))
	for i, s := range subs {
		ready[i] = s.ready
	}
	notOpen := waitReady(ctx, ready, cfg.ReadyTimeout)
	fmt.Fprintf(log, "loadgen: %d of %d streams open in %v; settling for %v, then measuring for %v\n",
		len(subs)-notOpen, len(subs), time.Since(readyStart).Round(time.Millisecond), cfg.Settle, cfg.Idle)
	if !sleepCtx(ctx, cfg.Settle) {
		return IdleResult{}, ctx.Err()
	}
	// The plugin may have been restarted meanwhile: look again.
	pids = processTree(cfg.WatchPID)
	start := sampleAll(pids)
	startAt := time.Now()
	if !sleepCtx(ctx, cfg.Idle) {
		return IdleResult{}, ctx.Err()
	}
	end := sampleAll(pids)
	window := time.Since(startAt)
	stopStreams()
	subWG.Wait()

	res := IdleResult{
		Rooms: cfg.Rooms, Streams: streams, Open: len(subs) - notOpen, WindowS: window.Seconds(),
		Heartbeats: c.heartbeats.Load(), StreamErrors: c.streamErrors.Load(), Reconnects: c.reconnects.Load(),
	}
	var deltaKiB int64
	for _, pid := range pids {
		e, ok := end[pid]
		if !ok {
			continue
		}
		pr := IdleProcess{PID: pid, Name: e.name, RSSBeforeKiB: before[pid].rssKiB, RSSAfterKiB: e.rssKiB}
		if s, ok := start[pid]; ok {
			pr.CPUPct = float64(e.ticks-s.ticks) / clockTicks / window.Seconds() * 100
		}
		if _, ok := before[pid]; ok && streams > 0 {
			pr.RSSPerStreamKiB = float64(e.rssKiB-before[pid].rssKiB) / float64(streams)
			deltaKiB += e.rssKiB - before[pid].rssKiB
		}
		res.CPUPct += pr.CPUPct
		res.Processes = append(res.Processes, pr)
	}
	if streams > 0 {
		res.RSSPerStreamKiB = float64(deltaKiB) / float64(streams)
	}
	for _, pr := range res.Processes {
		fmt.Fprintf(log, "loadgen: %s (pid %d): RSS %d → %d KiB (%.1f KiB per stream), CPU %.2f%% of a core\n",
			pr.Name, pr.PID, pr.RSSBeforeKiB, pr.RSSAfterKiB, pr.RSSPerStreamKiB, pr.CPUPct)
	}
	return res, nil
}
