package observe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

const fakeMetrics = `# TYPE go_goroutines gauge
go_goroutines %d
# TYPE http_requests_total counter
http_requests_total{code="200",method="post",handler="pay"} 10
# TYPE victim_info gauge
victim_info{role="orders",cache="racy"} 1
`

type fakeVictim struct {
	srv        *httptest.Server
	leakCalls  atomic.Int64
	metricCall atomic.Int64
}

func newFakeVictim(t testing.TB, goroutines int, delay time.Duration) *fakeVictim {
	f := &fakeVictim{}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		f.metricCall.Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, fakeMetrics, goroutines)
	})
	mux.HandleFunc("/debug/goleak", func(w http.ResponseWriter, r *http.Request) {
		f.leakCalls.Add(1)
		fmt.Fprint(w, `{"leaked":3,"groups":[{"function":"victim/gateway.(*Gateway).call.func1","count":3,"stack":"goroutine 9 [chan send]:"}]}`)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func TestScrapeAll(t *testing.T) {
	ok := newFakeVictim(t, 17, 0)
	slow := newFakeVictim(t, 1, 2*time.Second)
	bad := httptest.NewServer(http.NotFoundHandler())
	defer bad.Close()
	s := NewScraper(WithTimeout(300 * time.Millisecond))
	targets := []Target{
		{Name: "orders-1", AdminURL: ok.srv.URL},
		{Name: "slow", Role: "gateway", AdminURL: slow.srv.URL},
		{Name: "404", AdminURL: bad.URL},
		{Name: "refused", AdminURL: "http://127.0.0.1:1"},
	}
	got := s.ScrapeAll(context.Background(), 5*time.Second, targets)
	if len(got) != 4 {
		t.Fatalf("%d samples", len(got))
	}
	o := got[0]
	if !o.Up || o.Target != "orders-1" || o.Role != "orders" || o.At != 5*time.Second || o.Goroutines != 17 {
		t.Errorf("ok sample %+v", o)
	}
	if o.Leaked != 3 || len(o.LeakGroups) != 1 || o.LeakGroups[0].Count != 3 {
		t.Errorf("leaks %d %v", o.Leaked, o.LeakGroups)
	}
	for _, s := range got[1:] {
		if s.Up || s.Error == "" || s.Leaked != -1 {
			t.Errorf("%s: want down with error, got %+v", s.Target, s)
		}
	}
	if got[1].Role != "gateway" {
		t.Errorf("role from target: %q", got[1].Role)
	}
}

func TestScrapeLeakSchedule(t *testing.T) {
	f := newFakeVictim(t, 1, 0)
	g := newFakeVictim(t, 1, 0)
	s := NewScraper(WithLeakEvery(3), WithLeakRoles("gateway"))
	targets := []Target{{Name: "o", Role: "orders", AdminURL: f.srv.URL}, {Name: "g", Role: "gateway", AdminURL: g.srv.URL}}
	var read []int64
	for range 6 {
		out := s.ScrapeAll(context.Background(), 0, targets)
		if out[0].Leaked != -1 {
			t.Errorf("orders leaks read")
		}
		read = append(read, out[1].Leaked)
	}
	want := []int64{3, -1, -1, 3, -1, -1}
	if fmt.Sprint(read) != fmt.Sprint(want) {
		t.Errorf("leaked per tick %v want %v", read, want)
	}
	if f.leakCalls.Load() != 0 || g.leakCalls.Load() != 2 {
		t.Errorf("leak calls orders=%d gateway=%d", f.leakCalls.Load(), g.leakCalls.Load())
	}
}

// TestScrape200 scrapes 200 targets, each answering /metrics in 20 ms, with
// the default concurrency of 16, and reports the wall time.
func TestScrape200(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 200 servers")
	}
	targets := make([]Target, 200)
	for i := range targets {
		f := newFakeVictim(t, i, 20*time.Millisecond)
		targets[i] = Target{Name: fmt.Sprintf("t-%d", i), AdminURL: f.srv.URL}
	}
	s := NewScraper()
	s.ScrapeAll(context.Background(), 0, targets) // warm connections
	start := time.Now()
	out := s.ScrapeAll(context.Background(), time.Second, targets)
	wall := time.Since(start)
	for i, sm := range out {
		if !sm.Up || sm.Goroutines != float64(i) || sm.Leaked != 3 {
			t.Fatalf("target %d: %+v", i, sm)
		}
	}
	t.Logf("200 targets (20 ms /metrics each, metrics+goleak, concurrency 16): %v", wall)
	if wall > 5*time.Second {
		t.Errorf("200 targets took %v", wall)
	}
}

func BenchmarkScrapeAll200(b *testing.B) {
	targets := make([]Target, 200)
	for i := range targets {
		f := newFakeVictim(b, i, 0)
		targets[i] = Target{Name: fmt.Sprintf("t-%d", i), AdminURL: f.srv.URL}
	}
	s := NewScraper()
	b.ResetTimer()
	for b.Loop() {
		s.ScrapeAll(context.Background(), 0, targets)
	}
}

// A scraper asks for no gzip with its own client and with one it is given
// (such as the API server's for its pod proxy, whose transport would add
// gzip and the proxy forward it): being observed costs the victim the same
// either way.
func TestScrapeAsksForNoCompression(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, fakeMetrics, 3)
	}))
	defer srv.Close()
	for name, s := range map[string]*Scraper{
		"own client":   NewScraper(),
		"given client": NewScraper(WithHTTPClient(&http.Client{})),
	} {
		got.Store("unset")
		samples := s.ScrapeAll(context.Background(), 0, []Target{{Name: "orders-1", AdminURL: srv.URL}})
		if len(samples) != 1 || !samples[0].Up {
			t.Fatalf("%s: %+v", name, samples)
		}
		if ae := got.Load().(string); ae != "identity" {
			t.Errorf("%s: Accept-Encoding %q, want identity", name, ae)
		}
	}
}
