package local

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"go.uber.org/goleak"
)

// fakeVictim is the path of testdata/fakevictim, built once by TestMain.
var fakeVictim string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cascadelab-local-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fakeVictim = filepath.Join(dir, "fakevictim")
	if out, err := exec.Command("go", "build", "-o", fakeVictim, "./testdata/fakevictim").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building fakevictim: %v\n%s", err, out)
		os.Exit(1)
	}
	// No ignores: toxiproxy's goroutines end when Close clears its proxies.
	goleak.VerifyTestMain(cleanupRun{m, func() { os.RemoveAll(dir) }})
}

// cleanupRun runs the tests and then cleanup, before goleak.VerifyTestMain
// checks for leaks and calls os.Exit.
type cleanupRun struct {
	m       *testing.M
	cleanup func()
}

func (c cleanupRun) Run() int {
	defer c.cleanup()
	return c.m.Run()
}

// newFake starts a topology of fakevictim processes with n orders replicas.
func newFake(t *testing.T, n int32, opts ...Option) *Backend {
	t.Helper()
	opts = append([]Option{WithVictimCommand(fakeVictim), WithSeed(1), WithDataDir(t.TempDir())}, opts...)
	b, err := New("test", v1alpha1.VictimSpec{Orders: v1alpha1.OrdersSpec{Replicas: n}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

// pay POSTs an order payment to base and returns the duration and error.
func pay(base string, timeout time.Duration) (time.Duration, error) {
	c := &net.Dialer{Timeout: timeout}
	start := time.Now()
	conn, err := c.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(start.Add(timeout))
	body := `{"amount_cents":100}`
	fmt.Fprintf(conn, "POST /orders/o1/pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return time.Since(start), err
	}
	if !strings.Contains(line, " 200 ") {
		return time.Since(start), fmt.Errorf("status %q", strings.TrimSpace(line))
	}
	return time.Since(start), nil
}

// children returns the PIDs whose parent is this test process.
func children(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	me := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so cut at the last ')'.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(me) {
			out = append(out, pid)
		}
	}
	return out
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(addr, "http://"), 300*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// eventually polls cond every 50ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func podByName(b *Backend, name string) PodStatus {
	for _, s := range b.Pods() {
		if s.Name == name {
			return s
		}
	}
	return PodStatus{}
}
