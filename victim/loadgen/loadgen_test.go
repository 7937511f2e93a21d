package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCursorPairs(t *testing.T) {
	c := cursor{p: plan{seed: 42, ratio: 0.3}}
	seen := map[uint64]int{}
	last := uint64(0)
	for i := range 10_000 {
		k, second := c.next()
		seen[k]++
		if second && k != last {
			t.Fatalf("hit %d: second of a pair for %d after %d", i, k, last)
		}
		last = k
	}
	dups := 0
	for _, n := range seen {
		if n == 2 {
			dups++
		}
	}
	ratio := float64(dups) / float64(len(seen))
	if ratio < 0.25 || ratio > 0.35 {
		t.Errorf("duplicate share %.3f, want about 0.3", ratio)
	}
	// Same seed, same plan.
	a, b := cursor{p: plan{seed: 7, ratio: 0.5}}, cursor{p: plan{seed: 7, ratio: 0.5}}
	for range 100 {
		k1, s1 := a.next()
		k2, s2 := b.next()
		if k1 != k2 || s1 != s2 {
			t.Fatal("plans with one seed differ")
		}
	}
}

func TestPacerFiresPairsAtOnce(t *testing.T) {
	p := &pacer{rate: 10, cur: cursor{p: plan{seed: 1, ratio: 1}}}
	// ratio 1: every ID is a pair, so hits 1, 3, 5 … are seconds.
	if w, _ := p.Pace(0, 0); w != 0 {
		t.Errorf("first hit waits %v", w)
	}
	if w, _ := p.Pace(0, 1); w != 0 {
		t.Errorf("second of a pair waits %v", w)
	}
	if w, _ := p.Pace(0, 2); w != 200*time.Millisecond {
		t.Errorf("third hit waits %v, want 200ms", w)
	}
}

func TestRun(t *testing.T) {
	var mu sync.Mutex
	ids := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !strings.HasPrefix(r.URL.Path, "/orders/run1-") || !strings.Contains(string(b), `"amount_cents"`) {
			http.Error(w, "bad", 400)
			return
		}
		mu.Lock()
		ids[r.URL.Path]++
		mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	sum, err := Run(context.Background(), Config{Target: srv.URL, Rate: 200, DuplicateRatio: 0.5,
		Duration: time.Second, Seed: 3, OrderPrefix: "run1"}, NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests < 100 || sum.Codes["200"] != sum.Requests {
		t.Errorf("summary %+v", sum)
	}
	twice := 0
	for _, n := range ids {
		if n == 2 {
			twice++
		}
	}
	if int64(twice) != sum.Duplicates || twice == 0 {
		t.Errorf("IDs paid twice: %d, summary says %d", twice, sum.Duplicates)
	}
	mfs, _ := reg.Gather()
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"loadgen_requests_total", "loadgen_request_duration_seconds"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}

// A target that answers its probe but drops every payment's connection:
// the payments count as code="error" until ctx ends.
func TestRunStopsOnContextAndCountsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			http.NotFound(w, r)
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	sum, err := Run(ctx, Config{Target: srv.URL, Rate: 50}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests == 0 || sum.Codes["error"] != sum.Requests {
		t.Errorf("summary %+v, want only errors", sum)
	}
}

// A target that does not answer gets no load and Ready is never called;
// Run returns when ctx ends.
func TestRunSendsNothingToASilentTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	ready := false
	sum, err := Run(ctx, Config{Target: "http://127.0.0.1:1", Rate: 50, Ready: func() { ready = true }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ready || sum.Requests != 0 {
		t.Errorf("ready %v, summary %+v: want no load at a target that never answered", ready, sum)
	}
}

// The load starts when the target answers (a Service that routes some time
// after its pods are ready): Ready is called after the target comes up and
// every payment reaches it — none is sent into the void before.
func TestRunWaitsForTheTarget(t *testing.T) {
	up := make(chan struct{})
	var mu sync.Mutex
	var upAt, readyAt time.Time
	var early, pays int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // silent until up: the probe times out, as at a Service not yet routed
		case <-up:
		case <-r.Context().Done():
			return
		}
		if r.Method == http.MethodPost {
			mu.Lock()
			pays++
			if readyAt.IsZero() {
				early++
			}
			mu.Unlock()
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	done := make(chan Summary)
	go func() {
		sum, err := Run(context.Background(), Config{Target: srv.URL, Rate: 100, Duration: 2 * time.Second,
			Ready: func() { mu.Lock(); readyAt = time.Now(); mu.Unlock() }}, nil)
		if err != nil {
			t.Error(err)
		}
		done <- sum
	}()
	time.Sleep(700 * time.Millisecond)
	mu.Lock()
	upAt = time.Now()
	mu.Unlock()
	close(up)
	sum := <-done
	mu.Lock()
	defer mu.Unlock()
	if readyAt.IsZero() || readyAt.Before(upAt) {
		t.Errorf("Ready at %v, the target up at %v", readyAt, upAt)
	}
	if early > 0 || pays == 0 || int64(pays) != sum.Requests || sum.Codes["200"] != sum.Requests {
		t.Errorf("payments: %d before Ready, %d received, summary %+v", early, pays, sum)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{Target: "x", Rate: 0}, {Target: "x", Rate: 1, DuplicateRatio: 2}, {Rate: 1}} {
		if _, err := Run(context.Background(), c, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestTargeterDuplicateAfter: with a delay, a duplicated order's second hit
// comes no sooner than the delay after its first, and takes the place of a
// fresh order only once it is due.
func TestTargeterDuplicateAfter(t *testing.T) {
	p := plan{seed: 3, ratio: 0.5}
	clock := time.Unix(0, 0)
	tr := &targeter{cur: cursor{p: p}, p: p, dups: prometheus.NewCounter(prometheus.CounterOpts{Name: "d"}),
		after: 300 * time.Millisecond, now: func() time.Time { return clock }}
	first := map[uint64]time.Time{}
	dups := 0
	for range 1000 { // 100 hits/s for 10 s
		k, second := tr.next()
		if !second {
			if _, ok := first[k]; ok {
				t.Fatalf("order %d sent fresh twice", k)
			}
			first[k] = clock
		} else {
			f, ok := first[k]
			if !ok {
				t.Fatalf("duplicate of order %d before its original", k)
			}
			if d := clock.Sub(f); d < 300*time.Millisecond || d > 400*time.Millisecond {
				t.Fatalf("duplicate of order %d sent %v after its original, want 300ms (within one hit's slack)", k, d)
			}
			dups++
		}
		clock = clock.Add(10 * time.Millisecond)
	}
	if share := float64(dups) / float64(len(first)); share < 0.4 || share > 0.6 {
		t.Errorf("%d duplicates of %d orders (%.2f), want about half", dups, len(first), share)
	}
}

// TestRunFollowsNoRedirect: a target answering 307 elsewhere gets its 307
// counted; the other host sees no request.
func TestRunFollowsNoRedirect(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	sum, err := Run(context.Background(), Config{Target: srv.URL, Rate: 50, Duration: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d requests followed the redirect to another host", n)
	}
	if sum.Codes["307"] == 0 {
		t.Errorf("codes %v, want 307s", sum.Codes)
	}
}
