package drive

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/leakscan"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// roleTarget is the role of a spec.target's processes (pods).
const roleTarget = "target"

// targetScrapeOptions makes the scraper read a target's metrics at
// spec.target.metricsPath: the scraper asks for /metrics, and a client
// whose transport rewrites that path serves the target's (read directly,
// not through a client given with WithScrapeOptions).
func targetScrapeOptions(spec v1alpha1.ExperimentSpec) []observe.ScrapeOption {
	t := spec.Target
	if t == nil || t.MetricsPath == "" || t.MetricsPath == v1alpha1.DefaultMetricsPath {
		return nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	return []observe.ScrapeOption{observe.WithHTTPClient(&http.Client{Transport: &metricsPath{path: t.MetricsPath, rt: tr}})}
}

// metricsPath rewrites requests for /metrics to path.
type metricsPath struct {
	path string
	rt   http.RoundTripper
}

func (m *metricsPath) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == v1alpha1.DefaultMetricsPath {
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = m.path, ""
	}
	return m.rt.RoundTrip(r)
}

// CloseIdleConnections closes the transport's idle connections.
func (m *metricsPath) CloseIdleConnections() {
	if c, ok := m.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// targetLeaks is how a leakScanner reads a spec.target's processes.
type targetLeaks struct {
	eng         *engine.Engine
	spec        *v1alpha1.TargetSpec
	scan        *leakscan.Scanner
	timeout     time.Duration
	running     bool
	unavailable map[string]string // by target name: the dump's answer
}

// forSpec makes the scanner read a target's leaks kit-side (package
// leakscan) from spec.target.goroutinesPath, within timeout each, and
// report to eng, as SignalUnavailable findings, the signals a target does
// not serve.
func (l *leakScanner) forSpec(spec v1alpha1.ExperimentSpec, eng *engine.Engine, timeout time.Duration) *leakScanner {
	if t := spec.Target; t != nil {
		l.tgt = &targetLeaks{eng: eng, spec: t.DeepCopy(), scan: leakscan.New(), timeout: timeout, unavailable: map[string]string{}}
	}
	return l
}

// startTargets scans the target processes among targets in the
// background, one at a time, unless a scan of them is still running.
// l.mu is held.
func (l *leakScanner) startTargets(targets []observe.Target) {
	tl := l.tgt
	if tl == nil || tl.running || l.every <= 0 {
		return
	}
	var todo []observe.Target
	for _, t := range targets {
		if t.Role == roleTarget {
			todo = append(todo, t)
		}
	}
	tl.running = true
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for _, t := range todo {
			rep, err := tl.scanOne(t)
			l.mu.Lock()
			var u *leakscan.UnavailableError
			switch {
			case err == nil:
				l.last[t.Name] = leakResult{instance: t.Instance, rep: rep, at: time.Now()}
			case errors.As(err, &u):
				tl.unavailable[t.Name] = u.Status
			}
			l.mu.Unlock()
		}
		l.mu.Lock()
		tl.running = false
		l.mu.Unlock()
	}()
}

func (tl *targetLeaks) scanOne(t observe.Target) (observe.LeakReport, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tl.timeout)
	defer cancel()
	return tl.scan.Scan(ctx, t.Name+"/"+t.Instance, t.AdminURL, tl.spec.GoroutinesPath)
}

// signals reports, for each target sample, a metrics path that answered
// 404, metrics without go_goroutines, and a goroutine dump not served.
// l.mu is held.
func (l *leakScanner) signals(samples []observe.Sample) {
	tl := l.tgt
	if tl == nil {
		return
	}
	for _, s := range samples {
		if s.Role != roleTarget {
			continue
		}
		switch {
		case !s.Up && strings.Contains(s.Error, " 404 "):
			tl.eng.SignalUnavailable(s.At, tl.spec.MetricsPath, s.Target, "goroutines (maxGoroutineGrowth)", "404 Not Found")
		case s.Up && s.Goroutines == 0:
			tl.eng.SignalUnavailable(s.At, tl.spec.MetricsPath+" go_goroutines", s.Target, "goroutines (maxGoroutineGrowth)", "its metrics have no go_goroutines")
		}
		if why, ok := tl.unavailable[s.Target]; ok {
			tl.eng.SignalUnavailable(s.At, tl.spec.GoroutinesPath, s.Target, "leaked goroutines (maxLeakedGoroutines)", why)
		}
	}
}

// closeIdle closes the target scanner's idle connections.
func (l *leakScanner) closeIdle() {
	if l.tgt != nil {
		l.tgt.scan.CloseIdleConnections()
	}
}
