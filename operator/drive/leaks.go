package drive

import (
	"context"
	"sync"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// leakScanner reads /debug/goleak from the victim's processes on its own
// cadence, in the background, so that a slow report (goleak stops the
// process's world for each stack dump and retries while it finds leaks:
// seconds at thousands of goroutines) never delays a metrics tick. Each
// sample carries the last report of its process, with its age in the
// report's series.
type leakScanner struct {
	scraper *observe.Scraper
	every   time.Duration
	roles   map[string]bool

	wg      sync.WaitGroup
	mu      sync.Mutex
	running bool
	lastRun time.Time
	last    map[string]leakResult // by target name

	// With spec.target (forSpec): the target's processes are scanned
	// kit-side, one at a time, and signals they do not serve are reported.
	tgt *targetLeaks
}

type leakResult struct {
	instance string
	rep      observe.LeakReport
	at       time.Time
}

func newLeakScanner(s *observe.Scraper, every time.Duration, roles ...string) *leakScanner {
	l := &leakScanner{scraper: s, every: every, roles: map[string]bool{}, last: map[string]leakResult{}}
	for _, r := range roles {
		l.roles[r] = true
	}
	return l
}

// maybeStart starts a scan of targets when one is due and none runs.
func (l *leakScanner) maybeStart(now time.Time, targets []observe.Target) {
	if l.every <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running || now.Sub(l.lastRun) < l.every {
		return
	}
	l.running, l.lastRun = true, now
	l.startTargets(targets)
	var todo []observe.Target
	for _, t := range targets {
		if l.roles[t.Role] {
			todo = append(todo, t)
		}
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		// A fixed pool (the scraper's concurrency), not a goroutine per
		// target: a drill of many targets costs no more at once.
		l.scraper.LeaksAll(context.Background(), todo, func(t observe.Target, rep observe.LeakReport) {
			l.mu.Lock()
			l.last[t.Name] = leakResult{instance: t.Instance, rep: rep, at: time.Now()}
			l.mu.Unlock()
		})
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
	}()
}

// fill sets each sample's Leaked, LeakGroups, LeakAge and
// LeakOldestBlockedMinutes from the last report of the same process instance
// (Leaked stays -1 without one).
func (l *leakScanner) fill(samples []observe.Sample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.signals(samples)
	now := time.Now()
	for i := range samples {
		s := &samples[i]
		r, ok := l.last[s.Target]
		if !ok || !s.Up || (r.instance != "" && s.Instance != "" && r.instance != s.Instance) {
			continue
		}
		s.Leaked, s.LeakGroups = r.rep.Leaked, r.rep.Groups
		s.LeakAge = now.Sub(r.at) + time.Duration(r.rep.AgeSeconds*float64(time.Second))
		s.LeakOldestBlockedMinutes = r.rep.OldestBlockedMinutes
	}
}

// wait waits for a scan in flight.
func (l *leakScanner) wait() { l.wg.Wait() }
