package victim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/internal/freeport"
	"github.com/cascadelab/cascadelab/internal/syncbuf"
	"github.com/cascadelab/cascadelab/victim/leakreport"
	"github.com/cascadelab/cascadelab/victim/ledger"
)

// victimBin is the victim binary, built once by TestMain.
var victimBin string

func buildVictim() (cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "victim-bin-")
	if err != nil {
		return nil, err
	}
	victimBin = filepath.Join(dir, "victim")
	cmd := exec.Command("go", "build", "-o", victimBin, "github.com/cascadelab/cascadelab/victim/cmd/victim")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("building the victim: %w", err)
	}
	return func() { os.RemoveAll(dir) }, nil
}

// proc is one victim child process.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	App    string // base URL of the app port ("" for loadgen)
	Admin  string // base URL of the admin port
	stderr *syncbuf.Buffer
	stdout *syncbuf.Buffer
	done   chan struct{}
	err    error
}

// freePort returns a port that was free a moment ago, outside the
// ephemeral range (internal/freeport).
func freePort(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// start runs the victim with role and extra flags on fresh ports and waits
// for /readyz, retrying when a port was taken in the meantime.
func start(t testing.TB, role string, flags ...string) *proc {
	t.Helper()
	for attempt := 0; ; attempt++ {
		p := startOnce(t, role, flags...)
		err := p.waitReady(20 * time.Second)
		if err == nil {
			t.Cleanup(func() { p.Stop() })
			return p
		}
		p.Kill()
		if attempt < 3 && strings.Contains(p.Stderr(), "address already in use") {
			continue
		}
		t.Fatalf("%s did not become ready: %v\nstderr:\n%s", role, err, p.Stderr())
	}
}

func startOnce(t testing.TB, role string, flags ...string) *proc {
	admin := freePort(t)
	args := []string{"--role=" + role, "--admin-listen=" + admin}
	p := &proc{t: t, Admin: "http://" + admin, stderr: &syncbuf.Buffer{}, stdout: &syncbuf.Buffer{}, done: make(chan struct{})}
	if role != "loadgen" {
		app := freePort(t)
		args = append(args, "--listen="+app)
		p.App = "http://" + app
	}
	p.cmd = exec.Command(victimBin, append(args, flags...)...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p
}

func (p *proc) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("exited: %v", p.err)
		default:
		}
		resp, err := http.Get(p.Admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("timed out")
}

// Stderr returns what the process wrote to stderr so far.
func (p *proc) Stderr() string { return p.stderr.String() }

// Exited reports whether the process has exited.
func (p *proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode waits up to limit for the exit and returns its status.
func (p *proc) ExitCode(limit time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(limit):
		return 0, false
	}
}

// Stop sends SIGTERM and waits; it kills after 15 s.
func (p *proc) Stop() int {
	if !p.Exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	if code, ok := p.ExitCode(15 * time.Second); ok {
		return code
	}
	p.Kill()
	return -1
}

// Kill kills the process and waits for it.
func (p *proc) Kill() {
	if !p.Exited() {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// startLedger starts a ledger with mode in a fresh data directory.
func startLedger(t testing.TB, mode string) *proc {
	return start(t, "ledger", "--idempotency="+mode, "--data-dir="+t.TempDir())
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

// pay sends one payment; it returns the status (0 on transport error).
func pay(ctx context.Context, base, id string, cents int64) (int, []byte) {
	body := fmt.Sprintf(`{"amount_cents": %d}`, cents)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/orders/"+id+"/pay", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func balance(t testing.TB, ledgerProc *proc) ledger.Totals {
	var tot ledger.Totals
	getJSON(t, ledgerProc.App+"/balance", &tot)
	return tot
}

func leaks(t testing.TB, p *proc) leakreport.Report {
	var r leakreport.Report
	getJSON(t, p.Admin+"/debug/goleak", &r)
	return r
}

// metric returns the value of the first sample whose line starts with name
// (with labels, if given) in p's /metrics, or -1.
func metric(t testing.TB, p *proc, name string) float64 {
	t.Helper()
	resp, err := client.Get(p.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(l, name+" "), "%g", &v)
			return v
		}
	}
	return -1
}
