package engine

import "time"

// DefaultSettle is how long after a fault's recovery goroutine growth is
// first judged.
const DefaultSettle = 6 * time.Second

// options are the engine's tunables.
type options struct {
	maxFindings     int
	goroutineFloor  float64
	minRequests     float64
	maxTimeline     int
	maxSeriesPoints int
	settle          time.Duration
	minCoverage     float64
	sampleInterval  time.Duration
}

// Option configures New and Restore.
type Option func(*options)

func defaultOptions() options {
	return options{
		maxFindings:     MaxFindings,
		goroutineFloor:  DefaultGoroutineFloor,
		minRequests:     1,
		maxTimeline:     256,
		maxSeriesPoints: 100000,
		settle:          DefaultSettle,
		minCoverage:     DefaultMinCoverage,
	}
}

// WithMaxFindings caps the number of findings (default and most: 64, the
// status limit). One slot is kept for the Aborted finding.
func WithMaxFindings(n int) Option {
	return func(o *options) {
		if n > 0 && n <= MaxFindings {
			o.maxFindings = n
		}
	}
}

// DefaultGoroutineFloor is how many goroutines above its baseline a process
// must be before its growth is judged. Connection pools settle at a few
// dozen goroutines more after a latency fault (each kept connection holds a
// read and a write loop); a leak under load is hundreds.
const DefaultGoroutineFloor = 20

// WithGoroutineFloor sets how many goroutines above its baseline a process
// must be before growth is judged (default DefaultGoroutineFloor), so that a
// process idling at 15 goroutines does not breach a 2× bound with 20 more.
func WithGoroutineFloor(n float64) Option { return func(o *options) { o.goroutineFloor = n } }

// WithMinRequests sets how many client requests an interval must hold for
// its error ratio to be judged (default 1).
func WithMinRequests(n float64) Option { return func(o *options) { o.minRequests = n } }

// WithMaxTimeline caps the number of timeline events (default 256).
func WithMaxTimeline(n int) Option { return func(o *options) { o.maxTimeline = n } }

// WithMaxSeriesPoints caps the time series (default 100000); later points
// are dropped, the judging goes on.
func WithMaxSeriesPoints(n int) Option { return func(o *options) { o.maxSeriesPoints = n } }

// WithSettle sets how long after the last fault recovery goroutine growth is
// first judged (default DefaultSettle).
func WithSettle(d time.Duration) Option { return func(o *options) { o.settle = d } }

// DefaultMinCoverage is the least share of its samples in which every
// process must have been observed (and of intervals in which the load must
// have sent requests) for a drill to be judged HypothesisHeld.
const DefaultMinCoverage = 0.9

// WithMinCoverage sets the least share of samples a process must be
// observed in, and of intervals the load must run in (default
// DefaultMinCoverage); below it the drill is Inconclusive with an
// ObservationGap or LoadNotRunning finding.
func WithMinCoverage(share float64) Option {
	return func(o *options) {
		if share >= 0 && share <= 1 {
			o.minCoverage = share
		}
	}
}

// WithSampleInterval tells the engine the driver's observation interval,
// so that a drill observed much less often than that (observations lost
// altogether, not just failed scrapes) is an ObservationGap. Zero (the
// default) skips that check.
func WithSampleInterval(d time.Duration) Option { return func(o *options) { o.sampleInterval = d } }
