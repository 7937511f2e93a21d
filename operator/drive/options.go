package drive

import (
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// Defaults of the driver.
const (
	// DefaultInterval is the time between observations.
	DefaultInterval = time.Second
	// DefaultVictimTimeout bounds the wait for the victim to be ready.
	DefaultVictimTimeout = 3 * time.Minute
	// DefaultScrapeTimeout is the least time one scrape may take; it is
	// raised above the drill's largest injected latency so that the kit's
	// own scrapes are not judged by the faults they suffer.
	DefaultScrapeTimeout = 2 * time.Second
)

// DefaultLeakEvery is the cadence of the goleak scans, run in the
// background apart from the metrics ticks.
const DefaultLeakEvery = 3 * time.Second

// options are the driver's tunables.
type options struct {
	interval      time.Duration
	pollInterval  time.Duration
	minStep       time.Duration
	victimTimeout time.Duration
	retryInitial  time.Duration
	retryMax      time.Duration
	scrapeTimeout time.Duration
	leakEvery     time.Duration
	leakTimeout   time.Duration
	scrape        []observe.ScrapeOption
	engine        []engine.Option
	clock         func() time.Time
	newSampler    func(*observe.Scraper) Sampler
}

func defaultOptions() options {
	return options{
		interval:      DefaultInterval,
		pollInterval:  200 * time.Millisecond,
		minStep:       10 * time.Millisecond,
		victimTimeout: DefaultVictimTimeout,
		retryInitial:  100 * time.Millisecond,
		retryMax:      5 * time.Second,
		scrapeTimeout: DefaultScrapeTimeout,
		leakEvery:     DefaultLeakEvery,
		leakTimeout:   8 * time.Second,
	}
}

// engineOptions are the engine's options: the caller's, with the driver's
// sample interval so the engine can tell observations lost altogether.
func (o options) engineOptions() []engine.Option {
	return append([]engine.Option{engine.WithSampleInterval(o.interval)}, o.engine...)
}

// Option configures New and Resume.
type Option func(*options)

// WithInterval sets the time between observations (default DefaultInterval).
func WithInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.interval = d
		}
	}
}

// WithClock gives the driver the wall clock, read when the backend
// acknowledges the load running: a backend whose EnsureLoad blocks until
// the load flows (the local one) then starts the drill's clock at that
// moment, not at the start of the Step that asked for it. Without it the
// Step's now is used (right for a backend that answers at once).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithPollInterval sets how often a step the backend is still working on
// (a victim coming up, a fault not yet acknowledged) is looked at again
// (default 200 ms).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.pollInterval = d
		}
	}
}

// WithMinStep sets the shortest time Step asks to wait (default 10 ms; the
// operator uses more, as each Step is a reconcile).
func WithMinStep(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.minStep = d
		}
	}
}

// WithVictimTimeout bounds the wait for the victim to be ready (default
// DefaultVictimTimeout); after it the drill stops, Inconclusive.
func WithVictimTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.victimTimeout = d
		}
	}
}

// WithRetry sets the back-off of transient backend errors: initial delay,
// doubling up to max (defaults 100 ms and 5 s).
func WithRetry(initial, max time.Duration) Option {
	return func(o *options) {
		if initial > 0 && max >= initial {
			o.retryInitial, o.retryMax = initial, max
		}
	}
}

// WithScrapeOptions adds options to the driver's scraper (concurrency,
// leak scan cadence, HTTP client). The scrape timeout is the driver's.
func WithScrapeOptions(opts ...observe.ScrapeOption) Option {
	return func(o *options) { o.scrape = append(o.scrape, opts...) }
}

// WithEngineOptions passes options to the engine.
func WithEngineOptions(opts ...engine.Option) Option {
	return func(o *options) { o.engine = append(o.engine, opts...) }
}

// scrapeTimeout is the scrape timeout for spec: at least min, and one
// second above the largest latency (plus jitter) any fault injects.
func scrapeTimeout(spec v1alpha1.ExperimentSpec, least time.Duration) time.Duration {
	t := least
	for _, f := range spec.Faults {
		nc := f.NetworkChaos
		if nc == nil || nc.Delay == nil {
			continue
		}
		lat, _ := time.ParseDuration(nc.Delay.Latency)
		jit, _ := time.ParseDuration(nc.Delay.Jitter)
		t = max(t, lat+jit+time.Second)
	}
	return t
}

// WithLeakEvery sets the cadence of the background goleak scans (default
// DefaultLeakEvery; 0 turns them off).
func WithLeakEvery(d time.Duration) Option { return func(o *options) { o.leakEvery = d } }

// Sampler takes a drill's metrics samples apart from Step: an observer that
// scrapes on its own goroutine and ticker, so that a slow or hanging process
// never holds the caller of Step (the operator's reconcile worker).
type Sampler interface {
	// Sample hands the sampler the processes to observe from now on and
	// returns the newest samples it took since the last call: when they
	// were taken, and one sample per process read then; ok is false when
	// none was taken since. It must not block on the processes.
	Sample(targets []observe.Target) (taken time.Time, samples []observe.Sample, ok bool)
}

// WithSampler takes the observations from the Sampler newSampler returns
// instead of scraping in Step. newSampler is given the driver's metrics
// scraper (its timeout above the largest injected latency, the target's
// metrics path, the options of WithScrapeOptions). The leak scans run as
// without it, in the background. Observations are stamped with the time
// the sampler took them.
func WithSampler(newSampler func(*observe.Scraper) Sampler) Option {
	return func(o *options) { o.newSampler = newSampler }
}
