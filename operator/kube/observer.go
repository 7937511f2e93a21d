package kube

import (
	"context"
	"sync"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// MaxScrapeTimeout caps one observation of a drill's processes whatever
// latency a fault injects: a target that answers later than this (or
// never) is down in that observation. Observation runs beside the
// reconciles, so this bounds how stale an observation gets, never how long
// a reconcile worker waits.
const MaxScrapeTimeout = 10 * time.Second

// observer scrapes one drill's processes on its own goroutine and ticker
// and keeps the newest samples for the drill's reconciles (drive.Sampler):
// a reconcile reads them and never waits on a target. It starts at the
// first Sample and runs until stop.
type observer struct {
	scraper  *observe.Scraper
	interval time.Duration

	mu               sync.Mutex
	targets          []observe.Target
	taken            time.Time
	samples          []observe.Sample
	fresh            bool // samples not handed out yet
	started, stopped bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newObserver returns an observer that reads the processes with scraper
// (the driver's metrics scraper) every interval.
func newObserver(scraper *observe.Scraper, interval time.Duration) *observer {
	ctx, cancel := context.WithCancel(context.Background())
	return &observer{scraper: scraper, interval: interval, ctx: ctx, cancel: cancel}
}

// Sample implements drive.Sampler: it sets the processes the next ticks
// read and returns the newest samples not handed out yet. It never waits on
// a target.
func (o *observer) Sample(targets []observe.Target) (time.Time, []observe.Sample, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.targets = append(o.targets[:0:0], targets...)
	taken, samples, fresh := o.taken, o.samples, o.fresh
	o.fresh = false
	if !o.started && !o.stopped {
		o.started = true
		o.wg.Add(1)
		go o.loop()
	}
	return taken, samples, fresh
}

// loop reads the targets every interval until stop: one tick at a time,
// each bounded by MaxScrapeTimeout.
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
	ctx, cancel := context.WithTimeout(o.ctx, MaxScrapeTimeout)
	defer cancel()
	samples := o.scraper.ScrapeAll(ctx, 0, targets)
	if o.ctx.Err() != nil {
		return
	}
	o.mu.Lock()
	o.taken, o.samples, o.fresh = start, samples, true
	o.mu.Unlock()
}

// stop ends the observer and waits for its goroutine (a read in flight is
// cancelled).
func (o *observer) stop() {
	o.mu.Lock()
	o.stopped = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
	o.scraper.CloseIdleConnections()
}
