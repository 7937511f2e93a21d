package kube_test

import (
	"testing"
	"time"
)

// KubeletBackoff is the kubelet stand-in's CrashLoopBackOff, keyed like the
// kubelet's by the container's image (a changed image, as pod-failure's
// pause image, is a new key): a container that exits for the first time is
// restarted at once; each later exit waits Initial, doubling up to Max,
// counted from the exit's finishedAt; an exit more than Reset after the
// container's last (re)start is restarted at once again.
type KubeletBackoff struct {
	Initial, Max, Reset time.Duration
}

// DefaultKubeletBackoff is the real kubelet's CrashLoopBackOff in
// Kubernetes 1.37 (pkg/kubelet/kubelet.go): initialCrashLoopBackOff 10 s,
// a maximum of MaxContainerRestartPeriod, which defaults to 300 s, and a
// HasExpiredFunc that forgets the back-off once an exit comes more than
// 600 s after the last restart; the gate ReduceDefaultCrashLoopBackOffDecay
// (1 s to 60 s) is alpha and off. The stand-in uses it unless a test names
// a shorter one in KubeletOptions.Backoff: a stand-in that revives a
// crashing victim within a fraction of a second would hide how long a
// crash-looping service is down in a cluster (a real kubelet restarts it
// after 10 s, then 20 s, 40 s …, as FACTS.md records one doing here).
var DefaultKubeletBackoff = KubeletBackoff{Initial: 10 * time.Second, Max: 300 * time.Second, Reset: 600 * time.Second}

// crashLoop is the back-off state of one pod's containers, per image: the
// kubelet's flowcontrol.Backoff as its doBackOff uses it.
type crashLoop struct {
	bo      KubeletBackoff
	entries map[string]*crashLoopEntry
}

type crashLoopEntry struct {
	backoff    time.Duration
	lastUpdate time.Time // when the container last (re)started
}

func newCrashLoop(bo KubeletBackoff) *crashLoop {
	if bo == (KubeletBackoff{}) {
		bo = DefaultKubeletBackoff
	}
	return &crashLoop{bo: bo, entries: map[string]*crashLoopEntry{}}
}

// wait is how long after now the container of image must still wait
// before it may start, given when its last exit finished
// (Backoff.IsInBackOffSince): 0 when it has no back-off, or the back-off
// expired.
func (c *crashLoop) wait(image string, finished, now time.Time) time.Duration {
	e := c.entries[image]
	if e == nil || finished.Sub(e.lastUpdate) > c.bo.Reset {
		return 0
	}
	return max(e.backoff-now.Sub(finished), 0)
}

// started records a start of the container of image after an exit that
// finished at finished (Backoff.Next): the back-off becomes Initial the
// first time or once expired, and doubles up to Max otherwise.
func (c *crashLoop) started(image string, finished, now time.Time) {
	e := c.entries[image]
	if e == nil || finished.Sub(e.lastUpdate) > c.bo.Reset {
		e = &crashLoopEntry{backoff: c.bo.Initial}
		c.entries[image] = e
	} else {
		e.backoff = min(2*e.backoff, c.bo.Max)
	}
	e.lastUpdate = now
}

// crashPlayer plays a container's exits through a crashLoop on a fake
// clock.
type crashPlayer struct {
	c   *crashLoop
	now time.Time // when the container last started
}

func newCrashPlayer(bo KubeletBackoff) *crashPlayer {
	return &crashPlayer{c: newCrashLoop(bo), now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
}

// restartDelays plays a container that exits after each of uptimes and
// returns how long the crash loop holds each restart. The first start,
// before any exit, has no back-off.
func (p *crashPlayer) restartDelays(uptimes ...time.Duration) []time.Duration {
	var out []time.Duration
	for _, up := range uptimes {
		finished := p.now.Add(up)
		w := p.c.wait("victim", finished, finished)
		p.now = finished.Add(w)
		p.c.started("victim", finished, p.now)
		out = append(out, w)
	}
	return out
}

func TestKubeletBackoffSequence(t *testing.T) {
	s := time.Second
	same := func(a, b []time.Duration) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	p := newCrashPlayer(KubeletBackoff{})
	got := p.restartDelays(s, s, s, s, s, s, s, s, s)
	want := []time.Duration{0, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s, 300 * s, 300 * s}
	if !same(got, want) {
		t.Errorf("crash loop of a container up 1 s each time: %v, want %v", got, want)
	}
	// Up 11 minutes: the back-off is forgotten (immediate restart), then
	// starts again from 10 s.
	if got := p.restartDelays(11*time.Minute, s, s); !same(got, []time.Duration{0, 10 * s, 20 * s}) {
		t.Errorf("after 11 min up: %v, want [0s 10s 20s]", got)
	}
	// Up 9 minutes: still in the crash loop (5 min is the cap).
	if got := p.restartDelays(9 * time.Minute); !same(got, []time.Duration{40 * s}) {
		t.Errorf("after 9 min up: %v, want [40s]", got)
	}
	// The wait counts from the exit: a restart decided 4 s after the exit
	// waits the rest.
	c := newCrashLoop(KubeletBackoff{})
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	c.started("victim", t0, t0)
	if w := c.wait("victim", t0.Add(s), t0.Add(5*s)); w != 6*s {
		t.Errorf("4 s into a 10 s back-off: wait %v, want 6s", w)
	}
	if w := c.wait("pause", t0.Add(s), t0.Add(s)); w != 0 {
		t.Errorf("another image: wait %v, want none", w)
	}
	// A named short back-off for tests.
	p = newCrashPlayer(KubeletBackoff{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond, Reset: time.Minute})
	ms := time.Millisecond
	if got := p.restartDelays(s, s, s, s, s); !same(got, []time.Duration{0, 100 * ms, 200 * ms, 300 * ms, 300 * ms}) {
		t.Errorf("short back-off: %v", got)
	}
}
