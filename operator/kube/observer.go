package kube

import (
	"context"
	"sync"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// Bounds of a drill's observer. A target's answers are read apart from
// Reconcile, so these bound how stale an observation gets, never how long
// a reconcile worker waits.
const (
	// MaxScrapeTimeout caps one /metrics read whatever latency a fault
	// injects: a NetworkChaos delay of minutes makes the target's samples
	// fail (down) after this long instead of holding the observer.
	MaxScrapeTimeout = 10 * time.Second
	// leakScanTimeout bounds one /debug/goleak read (goleak retries for
	// seconds when it finds leaks).
	leakScanTimeout = 15 * time.Second
	// leakScanEvery is the cadence of the goleak scans.
	leakScanEvery = 3 * time.Second
)

// leakRoles are the roles whose /debug/goleak is read.
var leakRoles = map[string]bool{observe.RoleGateway: true, observe.RoleOrders: true, observe.RoleLedger: true, "target": true}

// leakPool bounds the goleak reads in flight across every drill of the
// process: each goes to a target, and a target may hold it for the whole
// leakScanTimeout.
var leakPool = make(chan struct{}, 8)

// observer scrapes one drill's processes on its own goroutine and ticker
// and keeps the newest samples and leak reports for the drill's
// reconciles (drive.Sampler). It starts at the first Sample and runs until
// stop.
type observer struct {
	scraper     *observe.Scraper
	leakScraper *observe.Scraper
	interval    time.Duration

	mu      sync.Mutex
	targets []observe.Target
	taken   time.Time
	samples []observe.Sample
	fresh   bool // samples not handed out yet
	leaks   map[string]leakReport
	leaking bool
	lastLk  time.Time

	started, stopped bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type leakReport struct {
	instance string
	rep      observe.LeakReport
	at       time.Time
}

// newObserver returns the observer of a drill of spec, scraping every
// interval with opts (the manager's scrape options: an HTTP client for the
// pod proxy).
func newObserver(spec v1alpha1.ExperimentSpec, interval time.Duration, opts ...observe.ScrapeOption) *observer {
	timeout := observerTimeout(spec)
	base := append([]observe.ScrapeOption{observe.WithConcurrency(16)}, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	return &observer{
		scraper:     observe.NewScraper(append(base, observe.WithTimeout(timeout), observe.WithLeakEvery(0))...),
		leakScraper: observe.NewScraper(append(base, observe.WithTimeout(leakScanTimeout))...),
		interval:    interval,
		leaks:       map[string]leakReport{},
		ctx:         ctx, cancel: cancel,
	}
}

// observerTimeout is the scrape timeout for spec: 2 s, or one second above
// the largest latency (plus jitter) a fault injects, at most
// MaxScrapeTimeout.
func observerTimeout(spec v1alpha1.ExperimentSpec) time.Duration {
	t := 2 * time.Second
	for _, f := range spec.Faults {
		if nc := f.NetworkChaos; nc != nil && nc.Delay != nil {
			lat, _ := time.ParseDuration(nc.Delay.Latency)
			jit, _ := time.ParseDuration(nc.Delay.Jitter)
			t = max(t, lat+jit+time.Second)
		}
	}
	return min(t, MaxScrapeTimeout)
}

// Sample implements drive.Sampler: it sets the processes the next ticks
// read and returns the newest samples not handed out yet. It never waits on
// a target.
func (o *observer) Sample(targets []observe.Target) (time.Time, []observe.Sample, bool) {
	o.mu.Lock()
	o.targets = append(o.targets[:0:0], targets...)
	taken, samples, fresh := o.taken, o.samples, o.fresh
	o.fresh = false
	if !o.started && !o.stopped {
		o.started = true
		o.wg.Add(1)
		go o.loop()
	}
	o.mu.Unlock()
	return taken, samples, fresh
}

// loop scrapes the targets every interval until stop: one tick at a time,
// each bounded by the scrape timeout.
func (o *observer) loop() {
	defer o.wg.Done()
	for {
		start := time.Now()
		o.tick(start)
		select {
		case <-o.ctx.Done():
			return
		case <-time.After(max(o.interval-time.Since(start), 0)):
		}
	}
}

func (o *observer) tick(start time.Time) {
	o.mu.Lock()
	targets := o.targets
	o.mu.Unlock()
	o.maybeScanLeaks(start, targets)
	samples := o.scraper.ScrapeAll(o.ctx, 0, targets)
	if o.ctx.Err() != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	for i := range samples {
		s := &samples[i]
		r, ok := o.leaks[s.Target]
		if !ok || !s.Up || (r.instance != "" && s.Instance != "" && r.instance != s.Instance) {
			continue
		}
		s.Leaked, s.LeakGroups = r.rep.Leaked, r.rep.Groups
		s.LeakAge = now.Sub(r.at) + time.Duration(r.rep.AgeSeconds*float64(time.Second))
		s.LeakOldestBlockedMinutes = r.rep.OldestBlockedMinutes
	}
	o.taken, o.samples, o.fresh = start, samples, true
}

// maybeScanLeaks starts a goleak scan of targets in the background when one
// is due and none of this drill runs; its reads share leakPool.
func (o *observer) maybeScanLeaks(now time.Time, targets []observe.Target) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.leaking || now.Sub(o.lastLk) < leakScanEvery {
		return
	}
	var todo []observe.Target
	for _, t := range targets {
		if leakRoles[t.Role] {
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return
	}
	o.leaking, o.lastLk = true, now
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer func() { o.mu.Lock(); o.leaking = false; o.mu.Unlock() }()
		for _, t := range todo {
			select {
			case leakPool <- struct{}{}:
			case <-o.ctx.Done():
				return
			}
			rep, err := o.leakScraper.Leaks(o.ctx, t)
			<-leakPool
			if err != nil {
				continue
			}
			o.mu.Lock()
			o.leaks[t.Name] = leakReport{instance: t.Instance, rep: rep, at: time.Now()}
			o.mu.Unlock()
		}
	}()
}

// stop ends the observer and waits for its goroutines (each read in flight
// is cancelled).
func (o *observer) stop() {
	o.mu.Lock()
	o.stopped = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
	o.scraper.CloseIdleConnections()
	o.leakScraper.CloseIdleConnections()
}
