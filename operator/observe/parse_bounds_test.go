package observe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// edgeBody is http_client_requests_total and its latency histogram with n
// upstream values, one call each, served by a real registry.
func edgeBody(t *testing.T, n int, accept string) (body []byte, contentType string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricEdgeRequests}, []string{"upstream", "code", "method"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricEdgeLatency, Buckets: []float64{.1, 1}}, []string{"upstream", "code", "method"})
	reg.MustRegister(req, lat)
	for i := range n {
		u := fmt.Sprintf("up-%05d", i)
		req.WithLabelValues(u, "200", "post").Inc()
		lat.WithLabelValues(u, "200", "post").Observe(.05)
	}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Accept", accept)
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, r)
	return rec.Body.Bytes(), rec.Header().Get("Content-Type")
}

// TestParseBounds: what a target serves cannot make Parse keep more than
// its Limits: upstreams and codes beyond the caps are folded into "other"
// (the counts kept, a note saying so), long label values are cut, and a
// body beyond the byte, line, series or family bounds is an error wrapping
// ErrTooLarge.
func TestParseBounds(t *testing.T) {
	for _, format := range []string{"text/plain;version=0.0.4", protoDelim} {
		t.Run("upstreams folded/"+strings.Fields(strings.ReplaceAll(format, ";", " "))[0], func(t *testing.T) {
			body, ct := edgeBody(t, 100, format)
			s, err := Parse(strings.NewReader(string(body)), ct)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Upstream) != DefaultLimits.MaxUpstreams+1 {
				t.Fatalf("%d upstreams kept, want %d and %q", len(s.Upstream), DefaultLimits.MaxUpstreams, OtherLabel)
			}
			other := s.Upstream[OtherLabel]
			if other.Requests["200"] != 100-float64(DefaultLimits.MaxUpstreams) || other.LatencyCount != 100-float64(DefaultLimits.MaxUpstreams) {
				t.Errorf("other edge %+v, want the %d folded calls", other, 100-DefaultLimits.MaxUpstreams)
			}
			if len(s.Notes) == 0 || !strings.Contains(strings.Join(s.Notes, "; "), `folded into "other"`) {
				t.Errorf("notes %q, want one saying upstreams were folded", s.Notes)
			}
		})
	}
	t.Run("codes folded", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("# TYPE http_requests_total counter\n")
		for i := range 1000 {
			fmt.Fprintf(&b, "http_requests_total{code=\"c%d\",handler=\"pay\"} 1\n", i)
		}
		s, err := Parse(strings.NewReader(b.String()), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(s.ServerRequests) != DefaultLimits.MaxCodes+1 || s.ServerRequests[OtherLabel] != 1000-float64(DefaultLimits.MaxCodes) {
			t.Errorf("%d codes, other %v", len(s.ServerRequests), s.ServerRequests[OtherLabel])
		}
	})
	t.Run("label value cut", func(t *testing.T) {
		long := strings.Repeat("x", 100_000)
		s, err := Parse(strings.NewReader("victim_info{role=\""+long+"\"} 1\n"), "", WithLimits(Limits{MaxLineBytes: 200_000}))
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Role) != DefaultLimits.MaxLabelValue || len(s.Notes) != 1 {
			t.Errorf("role of %d bytes, notes %q", len(s.Role), s.Notes)
		}
	})
	tooLargeCases := map[string]struct {
		body string
		lim  Limits
	}{
		"body":     {strings.Repeat("go_goroutines 1\n", 1000), Limits{MaxBytes: 1000}},
		"line":     {"go_goroutines{a=\"" + strings.Repeat("x", 70_000) + "\"} 1\n", Limits{}},
		"series":   {strings.Repeat("go_goroutines 1\n", 101), Limits{MaxSeries: 100}},
		"families": {"a 1\nb 1\nc 1\n", Limits{MaxFamilies: 2}},
	}
	for name, c := range tooLargeCases {
		t.Run("too large/"+name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.body), "", WithLimits(c.lim))
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("err %v, want ErrTooLarge", err)
			}
		})
	}
	t.Run("too large/protobuf series", func(t *testing.T) {
		body, ct := edgeBody(t, 200, protoDelim)
		if _, err := Parse(strings.NewReader(string(body)), ct, WithLimits(Limits{MaxSeries: 100})); !errors.Is(err, ErrTooLarge) {
			t.Errorf("err %v, want ErrTooLarge", err)
		}
	})
}

// TestScrapeTimeoutCapped: a scraper's timeout is at most MaxScrapeTimeout,
// whatever latency the drill injects.
func TestScrapeTimeoutCapped(t *testing.T) {
	if s := NewScraper(WithTimeout(59 * time.Minute)); s.timeout != MaxScrapeTimeout {
		t.Errorf("timeout %s, want %s", s.timeout, MaxScrapeTimeout)
	}
	if s := NewScraper(WithTimeout(3 * time.Second)); s.timeout != 3*time.Second {
		t.Errorf("timeout %s, want 3s", s.timeout)
	}
}

// TestScrapeLeaksAllBounded: a leak scan of many targets reads at most
// WithConcurrency reports at once and reads every target.
func TestScrapeLeaksAllBounded(t *testing.T) {
	var inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, `{"leaked": 1, "groups": []}`)
	}))
	defer srv.Close()
	var targets []Target
	for i := range 40 {
		targets = append(targets, Target{Name: fmt.Sprint(i), AdminURL: srv.URL})
	}
	var mu sync.Mutex
	got := map[string]bool{}
	NewScraper(WithConcurrency(3)).LeaksAll(context.Background(), targets, func(t Target, rep LeakReport) {
		mu.Lock()
		got[t.Name] = rep.Leaked == 1
		mu.Unlock()
	})
	if len(got) != len(targets) {
		t.Errorf("%d reports, want %d", len(got), len(targets))
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("%d reads at once, want at most 3", p)
	}
}
