package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestAtLeastTwoPs: confined to one CPU (taskset), the victim binary still
// runs with two Ps (victim.Main), and GOMAXPROCS set by the user wins. Go itself gives a
// process confined to one CPU one P, as the second case's GOMAXPROCS=1
// reproduces.
func TestAtLeastTwoPs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the victim")
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil && runtime.GOOS != "linux" {
		t.Skipf("no taskset on %s: CPU affinity is set with it on Linux only", runtime.GOOS)
	}
	if err != nil {
		t.Fatal("taskset not on PATH: install the util-linux package (apt-get install util-linux)")
	}
	bin := filepath.Join(t.TempDir(), "victim")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		env  string
		want string
	}{{"", "2"}, {"GOMAXPROCS=1", "1"}} {
		t.Run("env="+c.env, func(t *testing.T) {
			admin := freeAddr(t)
			cmd := exec.Command(taskset, "-c", "0", bin, "--role=ledger", "--listen="+freeAddr(t),
				"--admin-listen="+admin, "--data-dir="+t.TempDir(), "--events=false")
			cmd.Env = os.Environ()
			if c.env != "" {
				cmd.Env = append(cmd.Env, c.env)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			if got := gomaxprocs(t, "http://"+admin+"/metrics"); got != c.want {
				t.Errorf("go_sched_gomaxprocs_threads = %s, want %s", got, c.want)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// gomaxprocs reads go_sched_gomaxprocs_threads from url, waiting up to 10 s
// for the server.
func gomaxprocs(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_sched_gomaxprocs_threads "); ok {
				return v
			}
		}
		t.Fatal(fmt.Errorf("no go_sched_gomaxprocs_threads at %s", url))
	}
	t.Fatalf("%s never answered", url)
	return ""
}
