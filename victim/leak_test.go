package victim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/victim/leakreport"
)

// waitLeaks polls p's /debug/goleak until ok accepts a report or limit
// passes, and returns the last report.
func waitLeaks(t *testing.T, p *proc, limit time.Duration, ok func(leakreport.Report) bool) (leakreport.Report, bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		r := leaks(t, p)
		if ok(r) {
			return r, true
		}
		if time.Now().After(deadline) {
			return r, false
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func zero(r leakreport.Report) bool { return r.Leaked == 0 }

// TestGoleakIdleIsZero: the ignore list covers every role's own goroutines,
// idle and after traffic (keep-alive connections, janitor, workers, signal
// handling, the running load).
func TestGoleakIdleIsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes")
	}
	led := startLedger(t, "cas")
	procs := []*proc{led}
	var ords []string
	for _, c := range []string{"racy", "mutex", "sharded", "syncmap", "serialized"} {
		o := start(t, "orders", "--cache="+c, "--ledger-url="+led.App)
		procs = append(procs, o)
		ords = append(ords, o.App)
	}
	gws := []*proc{
		start(t, "gateway", "--mode=leaky", "--orders-url="+strings.Join(ords[1:], ",")),
		start(t, "gateway", "--mode=bounded", "--orders-url="+strings.Join(ords[1:], ",")),
	}
	procs = append(procs, gws...)
	// Traffic through each app port (sequential: the racy replica must live).
	for i, base := range append(ords, gws[0].App, gws[1].App) {
		for j := range 5 {
			if code, body := pay(context.Background(), base, fmt.Sprintf("idle-%d-%d", i, j), 100); code != 200 {
				t.Fatalf("pay via %s: %d %s", base, code, body)
			}
		}
	}
	lg := start(t, "loadgen", "--target="+gws[1].App, "--rate=20", "--duration=1h")
	procs = append(procs, lg)
	for _, p := range procs {
		if r, ok := waitLeaks(t, p, 10*time.Second, zero); !ok {
			t.Errorf("%s: idle report %+v", p.cmd.Args[1], r)
		}
	}
	for _, p := range procs {
		if code := p.Stop(); code != 0 {
			t.Errorf("%v: exit %d after SIGTERM; stderr:\n%s", p.cmd.Args[1:3], code, tail(p.Stderr()))
		}
	}
}

// slowUpstream answers every request after delay and counts answers.
func slowUpstream(t *testing.T, delay time.Duration) (*httptest.Server, *atomic.Int64) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"PAID"}`)
		served.Add(1)
	}))
	t.Cleanup(srv.Close)
	return srv, &served
}

// TestGatewayLeakyVsBounded: under upstream latency above the try timeout,
// the leaky gateway leaves one goroutine per try blocked forever on its
// channel send, and /debug/goleak groups them there; the bounded gateway
// leaves nothing.
func TestGatewayLeakyVsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes")
	}
	const requests, retries = 10, 2
	for _, mode := range []string{"leaky", "bounded"} {
		t.Run(mode, func(t *testing.T) {
			up, served := slowUpstream(t, 300*time.Millisecond)
			gw := start(t, "gateway", "--mode="+mode, "--orders-url="+up.URL, "--timeout=50ms", fmt.Sprintf("--retries=%d", retries))
			var wg sync.WaitGroup
			for i := range requests {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if code, body := pay(context.Background(), gw.App, fmt.Sprintf("slow-%d", i), 100); code != http.StatusGatewayTimeout {
						t.Errorf("status %d %s, want 504", code, body)
					}
				}()
			}
			wg.Wait()
			tries := int64(requests * (retries + 1))
			if got := metric(t, gw, `gateway_upstream_attempts_total{result="timeout"}`); got != float64(tries) {
				t.Errorf("timeouts counted %v, want %d", got, tries)
			}
			if mode == "bounded" {
				if r, ok := waitLeaks(t, gw, 10*time.Second, zero); !ok {
					t.Errorf("bounded gateway leaks: %+v", r)
				}
				return
			}
			// Every try reached the upstream; once answered, each detached
			// goroutine blocks on its send forever.
			for deadline := time.Now().Add(20 * time.Second); served.Load() < tries && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			const fn = "github.com/cascadelab/cascadelab/victim/gateway.(*Server).tryLeaky.func1"
			r, ok := waitLeaks(t, gw, 15*time.Second, func(r leakreport.Report) bool {
				return r.Leaked == int(tries) && len(r.Groups) == 1 && r.Groups[0].Function == fn
			})
			if !ok {
				t.Fatalf("leaky gateway: want %d leaked in one group at %s, got %+v", tries, fn, r)
			}
			if !strings.Contains(r.Groups[0].Stack, "[chan send") {
				t.Errorf("sample stack is not blocked on a channel send:\n%s", r.Groups[0].Stack)
			}
			if got := metric(t, gw, "go_goroutines"); got < float64(tries) {
				t.Errorf("go_goroutines = %v, want >= %d", got, tries)
			}
			t.Logf("leaky: %d leaked at %s (goleak took %.2fs)", r.Leaked, r.Groups[0].Function, r.TookSeconds)
		})
	}
}
