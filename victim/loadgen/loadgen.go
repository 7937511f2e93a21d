// Package loadgen drives open-loop, constant-rate load at a gateway or an
// orders replica with vegeta's library (github.com/tsenart/vegeta/v12/lib):
// a maintained, dependency-light attacker with an open-loop pacer, a
// pluggable Targeter and a caller-supplied http.Client, which is all this
// needs. (fortio was rejected: the proxy refuses one of its dependencies and
// it resets SIGINT handlers.)
//
// Each order ID is paid once, except a DuplicateRatio share of IDs that are
// paid twice — a double click or a client retry. With DuplicateAfter 0 the
// pacer fires the two requests of a pair back to back with no wait, so they
// reach the target concurrently; with DuplicateAfter > 0 the duplicate is
// the first hit due at least that long after the original, as a user
// clicking "pay" again on a page that has not answered.
package loadgen

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Config is one load run.
type Config struct {
	Target         string        // base URL of a gateway or orders replica
	Rate           float64       // requests per second, duplicates included
	DuplicateRatio float64       // share of order IDs paid twice, 0–1
	DuplicateAfter time.Duration // the duplicate's delay after the original; 0 = same moment
	Duration       time.Duration // 0 = until ctx is done
	Seed           uint64        // seeds amounts and which IDs are duplicated
	OrderPrefix    string        // order IDs are OrderPrefix-N
	Timeout        time.Duration // per-request client timeout
	// Request, when set, is sent instead of the victim's payment; an
	// answer outside its success codes counts as code "error" in
	// loadgen_requests_total (5xx keep their code) and by its own code in
	// loadgen_unexpected_responses_total.
	Request *Request
	// Ready, when set, is called once the target has answered a probe,
	// just before the load starts (see waitTarget).
	Ready func()
}

// Summary counts a finished run.
type Summary struct {
	Requests   int64            `json:"requests"`
	Codes      map[string]int64 `json:"codes"`
	Duplicates int64            `json:"duplicate_requests"`
	Seconds    float64          `json:"seconds"`
}

// plan is the deterministic sequence of hits: for k = 0, 1, …: order k,
// then order k again when k is one of the duplicated IDs. The same seed gives
// the same duplicates and amounts.
type plan struct {
	seed  uint64
	ratio float64
}

// mix is SplitMix64's finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (p plan) dup(k uint64) bool {
	if p.ratio <= 0 {
		return false
	}
	return float64(mix(p.seed^mix(2*k))>>11)/float64(1<<53) < p.ratio
}

func (p plan) amount(k uint64) int64 {
	return 100 + int64(mix(p.seed^mix(2*k+1))%99_900) // 1.00 to 999.99
}

// cursor walks a plan: hit n → (order k, second of a pair?).
type cursor struct {
	p      plan
	k      uint64
	second bool
	fresh  bool
}

func (c *cursor) next() (k uint64, second bool) {
	if !c.fresh {
		c.fresh = true
		return c.k, false
	}
	if !c.second && c.p.dup(c.k) {
		c.second = true
		return c.k, true
	}
	c.k++
	c.second = false
	return c.k, false
}

// pacer paces at a constant rate counting every hit, except that the second
// hit of a duplicate pair fires immediately after the first.
type pacer struct {
	rate float64
	cur  cursor
	hits uint64 // hits already paced; Pace may be asked again for the same hit
	sec  bool
}

func (p *pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	for p.hits <= hits {
		_, p.sec = p.cur.next()
		p.hits++
	}
	if p.sec {
		return 0, false
	}
	due := time.Duration(float64(hits) / p.rate * float64(time.Second))
	if due > elapsed {
		return due - elapsed, false
	}
	return 0, false
}

func (p *pacer) Rate(time.Duration) float64 { return p.rate }

// targeter hands out the plan's hits in order. With after > 0 the plan's
// pairs are split: the first goes out in its turn, the second waits in
// later until after has passed and then takes the next hit's place.
type targeter struct {
	mu     sync.Mutex
	cur    cursor
	base   string
	prefix string
	p      plan
	dups   prometheus.Counter
	nDups  atomic.Int64
	after  time.Duration
	later  []pending
	now    func() time.Time
	req    *Request
}

// pending is a duplicate waiting for its time.
type pending struct {
	k   uint64
	due time.Time
}

// next returns the next hit's order and whether it is a duplicate.
func (t *targeter) next() (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.after <= 0 {
		return t.cur.next()
	}
	now := t.now()
	if len(t.later) > 0 && !t.later[0].due.After(now) {
		d := t.later[0]
		t.later = t.later[1:]
		return d.k, true
	}
	for {
		k, second := t.cur.next()
		if !second {
			return k, false
		}
		t.later = append(t.later, pending{k: k, due: now.Add(t.after)})
	}
}

func (t *targeter) target(tgt *vegeta.Target) error {
	k, second := t.next()
	if second {
		t.dups.Inc()
		t.nDups.Add(1)
	}
	if t.req != nil {
		tgt.Header = http.Header{}
		tgt.Method, tgt.URL, tgt.Body = t.req.build(t.base, fmt.Sprintf("%s-%d", t.prefix, k), tgt.Header)
		return nil
	}
	tgt.Method = http.MethodPost
	tgt.URL = fmt.Sprintf("%s/orders/%s-%d/pay", t.base, t.prefix, k)
	tgt.Body = []byte(fmt.Sprintf(`{"amount_cents": %d}`, t.p.amount(k)))
	tgt.Header = http.Header{"Content-Type": []string{"application/json"}}
	return nil
}

// Metrics are the load generator's client-side metrics.
type Metrics struct {
	requests   *prometheus.CounterVec
	unexpected *prometheus.CounterVec
	latency    prometheus.Histogram
	dups       prometheus.Counter
}

// NewMetrics registers loadgen_requests_total{code},
// loadgen_request_duration_seconds and loadgen_duplicate_requests_total.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loadgen_requests_total",
			Help: `Requests sent, by HTTP status code; code="error" for transport errors, timeouts and answers outside the request's success codes (5xx keep their code).`}, []string{"code"}),
		unexpected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loadgen_unexpected_responses_total",
			Help: "Answers outside the request's success codes, by HTTP status code."}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "loadgen_request_duration_seconds",
			Help:    "Client-side request latency.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		dups: prometheus.NewCounter(prometheus.CounterOpts{Name: "loadgen_duplicate_requests_total",
			Help: "Requests that re-sent an order ID already sent (at the same moment, or --duplicate-after later)."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.unexpected, m.latency, m.dups)
	}
	return m
}

// Run waits for cfg.Target to answer, then attacks it until cfg.Duration
// elapses or ctx is done. A target that never answers gets no load: Run
// returns an empty Summary when the duration or ctx ends first.
func Run(ctx context.Context, cfg Config, m *Metrics) (Summary, error) {
	if cfg.Rate <= 0 || math.IsInf(cfg.Rate, 0) || math.IsNaN(cfg.Rate) {
		return Summary{}, fmt.Errorf("loadgen: rate must be > 0, got %v", cfg.Rate)
	}
	if cfg.DuplicateRatio < 0 || cfg.DuplicateRatio > 1 || math.IsNaN(cfg.DuplicateRatio) {
		return Summary{}, fmt.Errorf("loadgen: duplicate ratio must be in [0,1], got %v", cfg.DuplicateRatio)
	}
	if cfg.DuplicateAfter < 0 {
		return Summary{}, fmt.Errorf("loadgen: duplicate delay must not be negative, got %v", cfg.DuplicateAfter)
	}
	if cfg.Target == "" {
		return Summary{}, fmt.Errorf("loadgen: no target")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	if cfg.OrderPrefix == "" {
		cfg.OrderPrefix = DefaultPrefix()
	}
	p := plan{seed: seed, ratio: cfg.DuplicateRatio}
	tr := &targeter{cur: cursor{p: p}, base: strings.TrimRight(cfg.Target, "/"), prefix: cfg.OrderPrefix, p: p, dups: m.dups,
		after: cfg.DuplicateAfter, now: time.Now, req: cfg.Request}
	// The pacer fires a pair's second hit at once only when the pair goes
	// out together.
	paced := p
	if cfg.DuplicateAfter > 0 {
		paced.ratio = 0
	}

	tp := http.DefaultTransport.(*http.Transport).Clone()
	tp.MaxIdleConns = 1024
	tp.MaxIdleConnsPerHost = 1024
	tp.IdleConnTimeout = 30 * time.Second
	// A redirect is the target's answer, never followed: the load stays on
	// the target it was given.
	client := &http.Client{Transport: tp, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer tp.CloseIdleConnections()

	// The load starts when the target answers, within the run's duration.
	wctx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	start := time.Now()
	if !waitTarget(wctx, client, tr.base) {
		return Summary{Codes: map[string]int64{}, Seconds: time.Since(start).Seconds()}, nil
	}
	if cfg.Ready != nil {
		cfg.Ready()
	}
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(16), vegeta.MaxWorkers(4096))
	start = time.Now()
	res := atk.Attack(tr.target, &pacer{rate: cfg.Rate, cur: cursor{p: paced}}, cfg.Duration, "loadgen")
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	sum := Summary{Codes: map[string]int64{}}
	for r := range res {
		code := "error"
		if r.Code != 0 {
			code = strconv.Itoa(int(r.Code))
		}
		if req := cfg.Request; req != nil && r.Code != 0 && !req.Success(int(r.Code)) {
			m.unexpected.WithLabelValues(code).Inc()
			if r.Code/100 != 5 {
				code = "error"
			}
		}
		m.requests.WithLabelValues(code).Inc()
		m.latency.Observe(r.Latency.Seconds())
		sum.Requests++
		sum.Codes[code]++
	}
	sum.Seconds = time.Since(start).Seconds()
	sum.Duplicates = tr.nDups.Load()
	return sum, nil
}

// DefaultPrefix returns an order-ID prefix unique to this run ("lg-" and the
// start time in base 36), so two runs against one ledger do not collide.
func DefaultPrefix() string {
	return "lg-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
