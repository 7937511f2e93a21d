package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/cascadelab/cascadelab/internal/procstat"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// BenchmarkScrape200Processes measures one observation tick across 200 real
// victim processes (orders role) on loopback, with the scraper's bounded
// concurrency: "metrics" is the driver's tick (/metrics only: the leak scan
// runs on its own cadence), "metrics+goleak" adds /debug/goleak from each.
//
//	go test -run '^$' -bench Scrape200Processes -benchtime 10x ./operator/local/
//
// With CASCADELAB_VICTIM_BIN set to a victim binary, that binary is run
// instead of a fresh build (to compare two builds in interleaved runs).
//
// Besides the tick's wall time it reports the CPU the tick costs: the 200
// victims' together per scrape (victim-cpu-µs/scrape) and this process's
// per tick (scraper-cpu-ms/tick), from /proc at 10 ms resolution — on 2
// cores a tick cannot take less than their sum over 2.
func BenchmarkScrape200Processes(b *testing.B) {
	targets, pids := startVictims(b, 200)
	for _, c := range []struct {
		name      string
		leakEvery int
	}{{"metrics", 0}, {"metrics+goleak", 1}} {
		b.Run(c.name, func(b *testing.B) {
			s := observe.NewScraper(observe.WithLeakEvery(c.leakEvery))
			defer s.CloseIdleConnections()
			s.ScrapeAll(context.Background(), 0, targets) // connections warm, as in a drill
			victims0, self0 := victimsCPU(b, pids), selfCPU(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, sm := range s.ScrapeAll(context.Background(), time.Duration(i)*time.Second, targets) {
					if !sm.Up {
						b.Fatalf("%s down: %s", sm.Target, sm.Error)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((victimsCPU(b, pids)-victims0).Microseconds())/float64(b.N*len(targets)), "victim-cpu-µs/scrape")
			b.ReportMetric(float64((selfCPU(b)-self0).Microseconds())/1e3/float64(b.N), "scraper-cpu-ms/tick")
		})
	}
}

// BenchmarkObserverCPU10 measures the observer's own CPU at 1 Hz over 10
// real victim processes: this process scrapes them once a second for
// -benchtime ticks, and its user+system CPU time is read from
// /proc/self/stat before and after (the victims are other processes). The
// figure is reported as observer-cpu-%: CPU time / wall time, of one core.
//
//	go test -run '^$' -bench ObserverCPU10 -benchtime 30x ./operator/local/
func BenchmarkObserverCPU10(b *testing.B) {
	targets, _ := startVictims(b, 10)
	s := observe.NewScraper(observe.WithLeakEvery(0))
	defer s.CloseIdleConnections()
	s.ScrapeAll(context.Background(), 0, targets)
	cpu0, wall0 := selfCPU(b), time.Now()
	b.ResetTimer()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; i < b.N; i++ {
		<-tick.C
		for _, sm := range s.ScrapeAll(context.Background(), time.Duration(i)*time.Second, targets) {
			if !sm.Up {
				b.Fatalf("%s down: %s", sm.Target, sm.Error)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(100*float64(selfCPU(b)-cpu0)/float64(time.Since(wall0)), "observer-cpu-%")
}

// selfCPU is procstat.SelfCPU, failing the benchmark when unreadable.
func selfCPU(tb testing.TB) time.Duration {
	d, err := procstat.SelfCPU()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// victimsCPU is the CPU time of the processes pids together.
func victimsCPU(tb testing.TB, pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		d, err := procstat.CPU(pid)
		if err != nil {
			tb.Fatal(err)
		}
		sum += d
	}
	return sum
}

// BenchmarkScrape1000Targets measures one metrics tick over 1 000 targets:
// httptest servers serving the /metrics body of a real orders process
// (captured once), so the tick's own cost is measured apart from 1 000
// processes' scheduling.
//
//	go test -run '^$' -bench Scrape1000Targets -benchtime 10x ./operator/local/
func BenchmarkScrape1000Targets(b *testing.B) {
	victims, _ := startVictims(b, 1)
	real := victims[0]
	// The body in each format the scraper may ask for, served by content
	// negotiation as promhttp does.
	bodies := map[expfmt.FormatType][]byte{}
	types := map[expfmt.FormatType]expfmt.Format{}
	for _, f := range []expfmt.Format{expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeProtoDelim)} {
		req, _ := http.NewRequest(http.MethodGet, real.AdminURL+"/metrics", nil)
		req.Header.Set("Accept", string(f))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		bodies[f.FormatType()], types[f.FormatType()] = body, expfmt.Format(resp.Header.Get("Content-Type"))
	}
	targets := make([]observe.Target, 1000)
	for i := range targets {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t := expfmt.Negotiate(r.Header).FormatType()
			if bodies[t] == nil {
				t = expfmt.TypeTextPlain
			}
			w.Header().Set("Content-Type", string(types[t]))
			w.Write(bodies[t])
		}))
		b.Cleanup(srv.Close)
		targets[i] = observe.Target{Name: fmt.Sprintf("t-%d", i), Role: "orders", AdminURL: srv.URL}
	}
	s := observe.NewScraper(observe.WithLeakEvery(0))
	defer s.CloseIdleConnections()
	s.ScrapeAll(context.Background(), 0, targets)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, sm := range s.ScrapeAll(context.Background(), time.Duration(i)*time.Second, targets) {
			if !sm.Up {
				b.Fatalf("%s down: %s", sm.Target, sm.Error)
			}
		}
	}
}

// victimBinEnv names a prebuilt victim binary for the scrape benchmarks
// instead of building ../../victim/cmd/victim, so that two builds (before
// and after a change) can be measured in interleaved runs.
const victimBinEnv = "CASCADELAB_VICTIM_BIN"

// startVictims starts n real victim processes (orders role, mutex cache,
// events on as in a drill) on loopback, waits until each is healthy and
// returns them with their process IDs.
func startVictims(b *testing.B, n int) ([]observe.Target, []int) {
	bin := os.Getenv(victimBinEnv)
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "victim")
		if out, err := exec.Command("go", "build", "-o", bin, "../../victim/cmd/victim").CombinedOutput(); err != nil {
			b.Fatalf("building the victim: %v\n%s", err, out)
		}
	}
	targets, pids := make([]observe.Target, 0, n), make([]int, 0, n)
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
		pids = append(pids, cmd.Process.Pid)
		targets = append(targets, observe.Target{Name: fmt.Sprintf("orders-%d", i), Role: "orders", AdminURL: "http://" + admin})
	}
	for i, t := range targets {
		if err := waitHealthy(t.AdminURL + "/healthz"); err != nil {
			b.Fatalf("%s: %v; stderr:\n%s", t.Name, err, stderrs[i].String())
		}
	}
	return targets, pids
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
