package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/internal/freeport"
	"github.com/cascadelab/cascadelab/internal/syncbuf"
)

// The lab the Prometheus tests run: the victim built once for the package,
// real processes on loopback, and a real Prometheus server.

var victim struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the victim binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if victim.dir != "" {
		os.RemoveAll(victim.dir)
	}
	os.Exit(code)
}

// victimBinary builds ./victim/cmd/victim once for all tests of the package.
func victimBinary(t *testing.T) string {
	t.Helper()
	victim.once.Do(func() {
		if victim.dir, victim.err = os.MkdirTemp("", "dashboards-victim-"); victim.err != nil {
			return
		}
		victim.path = filepath.Join(victim.dir, "victim")
		build := exec.Command("go", "build", "-o", victim.path, "./victim/cmd/victim")
		build.Dir = repoRoot(t)
		if out, err := build.CombinedOutput(); err != nil {
			victim.err = fmt.Errorf("go build victim: %v\n%s", err, out)
		}
	})
	if victim.err != nil {
		t.Fatal(victim.err)
	}
	return victim.path
}

// prometheusBinary finds the Prometheus server: $PROMETHEUS, then
// bin/prometheus (built by `make prometheus-assets` from the Go module
// proxy, the release the kind lab deploys), then prometheus on PATH. Without
// one the test fails at once: it is part of `make test`, which builds it.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMETHEUS"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("PROMETHEUS=%s: %v (unset it to use bin/prometheus from `make prometheus-assets`)", p, err)
		}
		return p
	}
	if p := filepath.Join(repoRoot(t), "bin", "prometheus"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	t.Fatal("no Prometheus server: run `make prometheus-assets` (builds bin/prometheus from the Go module proxy), " +
		"or set PROMETHEUS to a prometheus binary")
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// startPrometheus writes config to dir and runs the Prometheus server on a
// free loopback port until the test ends; it returns the server's address
// once /-/ready answers.
func startPrometheus(t *testing.T, procs *processes, dir, config string) string {
	t.Helper()
	bin := prometheusBinary(t)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	procs.start("prometheus", bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	waitOK(t, procs, "http://"+addr+"/-/ready", 60*time.Second)
	return addr
}

// promSeries is one series of a query result: its labels, and its value
// (instant vector) or values (range vector).
type promSeries struct {
	Metric map[string]string
	Value  float64
	Points []promPoint
}

// promPoint is one sample of a range vector, at Prometheus' timestamp.
type promPoint struct {
	At    time.Time
	Value float64
}

// promQuery runs expr on Prometheus' HTTP API at time at (now when zero).
// A failed query is an error; an empty result is not.
func promQuery(promAddr, expr string, at time.Time) ([]promSeries, error) {
	v := url.Values{"query": {expr}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?" + v.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
				Values [][]any           `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %v", resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query failed (%s): %s\n%s", resp.Status, r.Error, expr)
	}
	var out []promSeries
	for _, s := range r.Data.Result {
		ps := promSeries{Metric: s.Metric, Value: math.NaN()}
		if len(s.Value) == 2 {
			_, ps.Value = promSample(s.Value)
		}
		for _, p := range s.Values {
			at, v := promSample(p)
			ps.Points = append(ps.Points, promPoint{at, v})
		}
		out = append(out, ps)
	}
	return out, nil
}

// promSample decodes [<unix seconds>, "<value>"].
func promSample(p []any) (time.Time, float64) {
	var at time.Time
	if len(p) != 2 {
		return at, math.NaN()
	}
	if ts, ok := p[0].(float64); ok {
		at = time.UnixMilli(int64(math.Round(ts * 1000)))
	}
	s, _ := p[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		v = math.NaN()
	}
	return at, v
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// processes runs the test's child processes, stops them (SIGINT, then
// SIGKILL after 10 s) when the test ends, and keeps their output.
type processes struct {
	t     *testing.T
	mu    sync.Mutex
	procs []*proc
}

// proc is one child process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *syncbuf.Buffer
	done   chan struct{}
	err    error
	killed bool // the test killed it: its exit is expected
}

func (p *processes) start(name, bin string, args ...string) *proc {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		p.t.Fatalf("start %s: %v", name, err)
	}
	pr := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { pr.err = cmd.Wait(); close(pr.done) }()
	p.mu.Lock()
	p.procs = append(p.procs, pr)
	p.mu.Unlock()
	p.t.Cleanup(func() { cancel(); <-pr.done })
	return pr
}

// kill sends SIGKILL to pr, as a crash would, and waits for it to exit.
func (p *processes) kill(pr *proc) {
	p.mu.Lock()
	pr.killed = true
	p.mu.Unlock()
	pr.cmd.Process.Kill()
	<-pr.done
}

// alive fails the test if a process has exited that the test did not kill.
func (p *processes) alive() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.procs {
		select {
		case <-pr.done:
			if !pr.killed {
				p.t.Fatalf("%s exited: %v\n%s", pr.name, pr.err, pr.out.Tail(2000))
			}
		default:
		}
	}
}

func (p *processes) dumpLogs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.procs {
		p.t.Logf("--- %s output (tail):\n%s", pr.name, pr.out.Tail(2000))
	}
}

func waitOK(t *testing.T, procs *processes, u string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		procs.alive()
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			procs.dumpLogs()
			t.Fatalf("%s not ready after %v: %v", u, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
