package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// acceptHeader prefers the length-delimited protobuf exposition (the first
// format Prometheus asks for too): it decodes several times faster than
// text, and Parse skips the families it does not read. Text remains the
// fallback for targets that serve nothing else.
const acceptHeader = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=1," +
	"text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// maxLeakBytes bounds how much of a /debug/goleak body is read.
const maxLeakBytes = 4 << 20

// Scraper reads /metrics and /debug/goleak from many targets at once, with
// bounded concurrency and a timeout per target. It is safe for concurrent use.
type Scraper struct {
	client      *http.Client
	timeout     time.Duration
	concurrency int
	leakEvery   int
	leakRoles   map[string]bool
	limits      Limits
	ticks       atomic.Int64
}

// ScrapeOption configures a Scraper.
type ScrapeOption func(*Scraper)

// WithHTTPClient sets the HTTP client (default: one with its own transport,
// keeping enough idle connections per host for repeated scrapes). The
// scraper uses a copy of it that follows no redirect (NoRedirect).
func WithHTTPClient(c *http.Client) ScrapeOption { return func(s *Scraper) { s.client = c } }

// NoRedirect is the CheckRedirect of every client the kit scrapes or probes
// with: a 3xx is the answer (a failed scrape, its status named), never
// followed. A target must not be able to send the manager elsewhere — to
// another host with the API server's bearer token (a pod-proxy client adds
// it to every request it sends), or to a service inside the cluster that
// the manager can reach and the target cannot.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// WithoutRedirects returns a copy of c (nil: a new client) whose
// CheckRedirect is NoRedirect; c itself is not changed.
func WithoutRedirects(c *http.Client) *http.Client {
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	out.CheckRedirect = NoRedirect
	return out
}

// WithTimeout bounds the time spent on one target, /metrics and
// /debug/goleak together (default 2 s; at most MaxScrapeTimeout, whatever
// is asked).
func WithTimeout(d time.Duration) ScrapeOption { return func(s *Scraper) { s.timeout = d } }

// WithParseLimits sets the limits each /metrics body is parsed within
// (default DefaultLimits; see Parse).
func WithParseLimits(l Limits) ScrapeOption { return func(s *Scraper) { s.limits = l } }

// WithConcurrency bounds how many targets are scraped at once (default 16).
func WithConcurrency(n int) ScrapeOption { return func(s *Scraper) { s.concurrency = n } }

// WithLeakEvery reads /debug/goleak on every nth ScrapeAll only (default 1:
// every time; 0 never). goleak stops the victim's world for each stack dump.
func WithLeakEvery(n int) ScrapeOption { return func(s *Scraper) { s.leakEvery = n } }

// WithLeakRoles reads /debug/goleak only from targets of the given roles
// (default: all roles).
func WithLeakRoles(roles ...string) ScrapeOption {
	return func(s *Scraper) {
		s.leakRoles = map[string]bool{}
		for _, r := range roles {
			s.leakRoles[r] = true
		}
	}
}

// NewScraper returns a Scraper.
func NewScraper(opts ...ScrapeOption) *Scraper {
	s := &Scraper{timeout: 2 * time.Second, concurrency: 16, leakEvery: 1, limits: DefaultLimits}
	for _, o := range opts {
		o(s)
	}
	s.timeout = min(s.timeout, MaxScrapeTimeout)
	if s.concurrency < 1 {
		s.concurrency = 1
	}
	if s.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4
		t.MaxIdleConns = 1024
		// No gzip: a /metrics body is a few KiB on loopback or a pod
		// network, and compressing it was a third of each victim's cost
		// of being scraped (compress/flate in its CPU profile).
		t.DisableCompression = true
		s.client = &http.Client{Transport: t}
	}
	s.client = WithoutRedirects(s.client)
	return s
}

// ScrapeAll scrapes every target and returns one Sample per target, in the
// order of targets, each stamped with at. A target that cannot be read has
// Up false and Error set; its leak report failing alone leaves Up true and
// Leaked -1. Leaked is -1 too when the leak report was not due.
func (s *Scraper) ScrapeAll(ctx context.Context, at time.Duration, targets []Target) []Sample {
	tick := s.ticks.Add(1) - 1
	leaks := s.leakEvery > 0 && tick%int64(s.leakEvery) == 0
	out := make([]Sample, len(targets))
	sem := make(chan struct{}, s.concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = s.Scrape(ctx, at, t, leaks && (s.leakRoles == nil || s.leakRoles[t.Role]))
		}()
	}
	wg.Wait()
	return out
}

// Scrape reads one target: /metrics, then /debug/goleak when leaks is true.
func (s *Scraper) Scrape(ctx context.Context, at time.Duration, t Target, leaks bool) Sample {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	base := strings.TrimRight(t.AdminURL, "/")
	sm, err := s.metrics(ctx, base+"/metrics")
	role := sm.Role
	if t.Role != "" {
		role = t.Role
	}
	sm.Target, sm.Role, sm.At, sm.Leaked, sm.Instance = t.Name, role, at, -1, t.Instance
	if err != nil {
		sm.Error = err.Error()
		return sm
	}
	sm.Up = true
	if leaks {
		if rep, err := s.leaks(ctx, base+"/debug/goleak"); err == nil {
			sm.Leaked, sm.LeakGroups = rep.Leaked, rep.Groups
		}
	}
	return sm
}

func (s *Scraper) get(ctx context.Context, url, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	// No gzip with any client either (WithHTTPClient's, such as the API
	// server's for its pod proxy, which would forward a transport's
	// automatic gzip to the victim): being observed must cost the victim
	// the same whichever way it is reached. On the node lab a pod-proxy
	// scraper that let gzip through shrank the ledger's egress enough to
	// change a bandwidth fault's effect (docs/node-lab.md).
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		drain(resp)
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			return nil, fmt.Errorf("GET %s: %s to %q (redirects are not followed)", url, resp.Status, truncateURL(loc))
		}
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp, nil
}

// truncateURL bounds a target's Location header in an error message.
func truncateURL(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func (s *Scraper) metrics(ctx context.Context, url string) (Sample, error) {
	resp, err := s.get(ctx, url, acceptHeader)
	if err != nil {
		return Sample{}, err
	}
	defer drain(resp)
	return Parse(resp.Body, resp.Header.Get("Content-Type"), WithLimits(s.limits))
}

func (s *Scraper) leaks(ctx context.Context, url string) (LeakReport, error) {
	var rep LeakReport
	resp, err := s.get(ctx, url, "application/json")
	if err != nil {
		return rep, err
	}
	defer drain(resp)
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxLeakBytes)).Decode(&rep); err != nil {
		return rep, fmt.Errorf("GET %s: %w", url, err)
	}
	return rep, nil
}

// CloseIdleConnections closes the connections kept for the next scrape;
// call it when the drill is over.
func (s *Scraper) CloseIdleConnections() { s.client.CloseIdleConnections() }

// Leaks reads one target's /debug/goleak report, within the scraper's
// timeout. A driver runs it on its own cadence, apart from the metrics
// scrapes: a goleak report on a process with thousands of goroutines
// takes seconds and must not delay a metrics tick.
func (s *Scraper) Leaks(ctx context.Context, t Target) (LeakReport, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.leaks(ctx, strings.TrimRight(t.AdminURL, "/")+"/debug/goleak")
}

// LeaksAll reads the /debug/goleak report of every target, at most
// WithConcurrency at once (a fixed pool, however many targets), and calls
// found with each report read; a target whose report cannot be read is
// skipped. It returns when every target was tried or ctx is done.
func (s *Scraper) LeaksAll(ctx context.Context, targets []Target, found func(Target, LeakReport)) {
	next := make(chan Target)
	var wg sync.WaitGroup
	for range min(s.concurrency, len(targets)) {
		wg.Go(func() {
			for t := range next {
				if rep, err := s.Leaks(ctx, t); err == nil {
					found(t, rep)
				}
			}
		})
	}
send:
	for _, t := range targets {
		select {
		case next <- t:
		case <-ctx.Done():
			break send
		}
	}
	close(next)
	wg.Wait()
}
