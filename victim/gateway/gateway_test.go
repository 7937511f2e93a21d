package gateway_test

import (
	"fmt"
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

	"github.com/cascadelab/cascadelab/victim/gateway"
)

// Only bounded mode runs in-process: leaky mode leaks by design and is
// tested in child processes by the victim package.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	c := &http.Client{}
	defer c.CloseIdleConnections()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newGateway(t *testing.T, urls []string, timeout time.Duration, retries int) (*httptest.Server, *http.Client) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{}}
	g, err := gateway.New(gateway.ModeBounded, urls, timeout, retries, gateway.WithClient(c), gateway.WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); c.CloseIdleConnections() })
	return srv, c
}

func TestRetriesSameIDRoundRobin(t *testing.T) {
	var hitsA, hitsB atomic.Int64
	var paths []string
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hitsA.Add(1)
		http.Error(w, `{"error":"down"}`, 503)
	}))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hitsB.Add(1)
		paths = append(paths, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"o1","status":"PAID"}`))
	}))
	defer b.Close()
	gw, _ := newGateway(t, []string{a.URL, b.URL}, time.Second, 2)
	code, body := post(t, gw.URL+"/orders/o1/pay", `{"amount_cents": 10}`)
	if code != 200 || !strings.Contains(body, "PAID") {
		t.Fatalf("got %d %s", code, body)
	}
	if hitsA.Load()+hitsB.Load() > 2 || hitsB.Load() != 1 || paths[0] != "/orders/o1/pay" {
		t.Errorf("hits a=%d b=%d paths=%v", hitsA.Load(), hitsB.Load(), paths)
	}
}

func TestAllTriesFail(t *testing.T) {
	var hits atomic.Int64
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", 500)
	}))
	defer down.Close()
	gw, _ := newGateway(t, []string{down.URL}, time.Second, 3)
	if code, body := post(t, gw.URL+"/orders/o1/pay", `{"amount_cents": 10}`); code != 502 || !strings.Contains(body, `"error"`) {
		t.Errorf("got %d %s, want 502 JSON", code, body)
	}
	if hits.Load() != 4 {
		t.Errorf("%d tries, want 4", hits.Load())
	}
	gw2, _ := newGateway(t, []string{"http://127.0.0.1:1"}, time.Second, 1)
	if code, _ := post(t, gw2.URL+"/orders/o1/pay", `{"amount_cents": 10}`); code != 502 {
		t.Errorf("unreachable upstream: %d, want 502", code)
	}
}

func TestBoundedTimeoutLeavesNothing(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	gw, _ := newGateway(t, []string{slow.URL}, 30*time.Millisecond, 1)
	if code, body := post(t, gw.URL+"/orders/o1/pay", `{"amount_cents": 10}`); code != 504 {
		t.Errorf("got %d %s, want 504", code, body)
	}
}

func TestBadInputIs4xx(t *testing.T) {
	gw, _ := newGateway(t, []string{"http://127.0.0.1:1"}, time.Second, 0)
	for _, body := range []string{`{`, `{"amount_cents":-3}`, `{"amount_cents":1,"x":1}`, ``} {
		if code, resp := post(t, gw.URL+"/orders/o1/pay", body); code != 400 || !strings.Contains(resp, `"error"`) {
			t.Errorf("%q: %d %s", body, code, resp)
		}
	}
	if _, err := gateway.New("weird", []string{"x"}, time.Second, 0); err == nil {
		t.Error("bad mode accepted")
	}
}

// TestRetryGoesToAnotherReplica: with one replica down, every payment's
// retry goes to the other one, even when payments interleave (a shared
// round-robin counter sent about one in eight to the dead replica three
// times in a row).
func TestRetryGoesToAnotherReplica(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // connection refused, as a killed pod
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"o","status":"PAID"}`))
	}))
	defer live.Close()
	gw, _ := newGateway(t, []string{dead.URL, live.URL}, time.Second, 2)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _ := post(t, gw.URL+fmt.Sprintf("/orders/o%d/pay", i), `{"amount_cents": 10}`); code != 200 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of 64 payments failed with one of two replicas down", n)
	}
}
