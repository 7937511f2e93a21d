package local

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// BenchmarkScrape200Processes measures one observation tick across 200 real
// victim processes (orders role) on loopback, with the scraper's bounded
// concurrency, reading /metrics and /debug/goleak from each:
//
//	go test -run '^$' -bench Scrape200Processes -benchtime 10x ./operator/local/
func BenchmarkScrape200Processes(b *testing.B) {
	const n = 200
	bin := filepath.Join(b.TempDir(), "victim")
	if out, err := exec.Command("go", "build", "-o", bin, "../../victim/cmd/victim").CombinedOutput(); err != nil {
		b.Fatalf("building the victim: %v\n%s", err, out)
	}
	targets := make([]observe.Target, 0, n)
	stderrs := make([]*ring, n)
	ports := distinctPorts(b, 2*n)
	for i := range n {
		app, admin := ports[2*i], ports[2*i+1]
		cmd := exec.Command(bin, "--role=orders", "--cache=mutex",
			"--listen="+app, "--admin-listen="+admin, "--ledger-url=http://127.0.0.1:1")
		stderr := newRing()
		cmd.Stderr = stderr
		stderrs[i] = stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		targets = append(targets, observe.Target{Name: fmt.Sprintf("orders-%d", i), Role: "orders", AdminURL: "http://" + admin})
	}
	for i, t := range targets {
		if err := waitHealthy(t.AdminURL + "/healthz"); err != nil {
			b.Fatalf("%s: %v; stderr:\n%s", t.Name, err, stderrs[i].String())
		}
	}
	s := observe.NewScraper()
	defer s.CloseIdleConnections()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		samples := s.ScrapeAll(context.Background(), time.Duration(i)*time.Second, targets)
		for _, sm := range samples {
			if !sm.Up {
				b.Fatalf("%s down: %s", sm.Target, sm.Error)
			}
		}
	}
}

// distinctPorts returns n loopback addresses that were free a moment ago,
// holding every listener until all are chosen so that none repeats.
func distinctPorts(tb testing.TB, n int) []string {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

func waitHealthy(url string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not healthy within 60s")
}
