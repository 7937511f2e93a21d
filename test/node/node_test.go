//go:build node

// Package node is the node suite (make test-node): tests against the
// single-node cluster that hack/node/up.sh starts from source — a real
// kubelet, containerd and runc, CNI bridge, kube-proxy and CoreDNS. The
// suite expects the lab to be up (hack/node/test.sh starts and stops it) and
// talks to it with kubectl (NODE_KUBECTL, KUBECONFIG) and plain HTTP to pod
// IPs, so the root module gains no dependency.
package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const smokeNS = "cascadelab-node-smoke"

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	bin := os.Getenv("NODE_KUBECTL")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", "node", "kubectl")
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func TestMain(m *testing.M) {
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "the node suite needs root and a running node lab: run make test-node as root")
		os.Exit(2)
	}
	if os.Getenv("KUBECONFIG") == "" {
		os.Setenv("KUBECONFIG", "/var/lib/cascadelab-node/admin.kubeconfig")
	}
	os.Exit(m.Run())
}

// containerStatus is the part of a pod's status the tests read.
type pod struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		PodIP             string `json:"podIP"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			RestartCount int    `json:"restartCount"`
			State        struct {
				Running *struct {
					StartedAt time.Time `json:"startedAt"`
				} `json:"running"`
			} `json:"state"`
			LastState struct {
				Terminated *struct {
					ExitCode   int       `json:"exitCode"`
					Reason     string    `json:"reason"`
					Message    string    `json:"message"`
					StartedAt  time.Time `json:"startedAt"`
					FinishedAt time.Time `json:"finishedAt"`
				} `json:"terminated"`
			} `json:"lastState"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

func pods(t *testing.T, ns, selector string) []pod {
	t.Helper()
	var list struct{ Items []pod }
	if err := json.Unmarshal([]byte(kubectl(t, "-n", ns, "get", "pods", "-l", selector, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func applySmoke(t *testing.T) {
	t.Helper()
	kubectl(t, "apply", "-f", filepath.Join(repoRoot(t), "hack", "node", "manifests", "smoke-racy.yaml"))
}

// TestRacyOrdersCrashOnRealKubelet: the racy orders container dies with the
// runtime's fatal error, the kubelet puts the headline in
// lastState.terminated.message (FallbackToLogsOnError) and restarts it with
// its back-off (10 s, 20 s, 40 s …).
func TestRacyOrdersCrashOnRealKubelet(t *testing.T) {
	applySmoke(t)
	deadline := time.Now().Add(6 * time.Minute)
	type run struct{ started, finished time.Time }
	runs := map[int]run{} // by the restart count that followed it
	var gaps []time.Duration
	var inMessage, lostHeadline int
	for time.Now().Before(deadline) && len(gaps) < 3 {
		for _, p := range pods(t, smokeNS, "app.kubernetes.io/component=orders") {
			for _, cs := range p.Status.ContainerStatuses {
				term := cs.LastState.Terminated
				if term == nil {
					continue
				}
				if _, seen := runs[cs.RestartCount]; seen {
					continue
				}
				runs[cs.RestartCount] = run{term.StartedAt, term.FinishedAt}
				t.Logf("orders restart %d: exit %d reason %s, ran %s, message %q",
					cs.RestartCount, term.ExitCode, term.Reason, term.FinishedAt.Sub(term.StartedAt), firstLine(term.Message))
				// The kubelet keeps the last 2048 bytes / 80 lines of the log
				// (FallbackToLogsOnError). A crash in the janitor has a short
				// stack and the headline survives; a crash in an HTTP handler's
				// goroutine prints over 2 KiB of stack after the headline, which
				// then falls out of the message. The previous container's log
				// (kubectl logs --previous) always has it.
				if strings.Contains(term.Message, "fatal error: concurrent map") {
					inMessage++
				} else {
					prevLog := kubectl(t, "-n", smokeNS, "logs", "--previous", p.Metadata.Name)
					if !strings.Contains(prevLog, "fatal error: concurrent map") {
						// "previous" is the latest terminated instance: if the
						// container ended again meanwhile (a crash, or a
						// liveness kill under load), it is not this one.
						if now := restarts(t, p.Metadata.Name); now != cs.RestartCount {
							t.Logf("restart %d: the container ended again (restart count now %d) before its log was read; not judged", cs.RestartCount, now)
							continue
						}
						t.Fatalf("neither the termination message nor the previous log has the fatal error headline:\n%s", term.Message)
					}
					lostHeadline++
					t.Logf("restart %d: headline not in the %d-byte termination message (stack too long), found in logs --previous", cs.RestartCount, len(term.Message))
				}
				if term.ExitCode != 2 {
					t.Errorf("exit code %d, want 2 (a Go fatal error)", term.ExitCode)
				}
				// the gap between the run before and this one is the back-off
				if prev, ok := runs[cs.RestartCount-1]; ok && term.StartedAt.After(prev.finished) {
					gaps = append(gaps, term.StartedAt.Sub(prev.finished))
					t.Logf("restart %d came %s after the crash before it", cs.RestartCount, gaps[len(gaps)-1])
				}
			}
		}
		time.Sleep(time.Second)
	}
	t.Logf("crashes with the headline in lastState.terminated.message: %d; only in logs --previous: %d", inMessage, lostHeadline)
	if len(gaps) < 3 {
		t.Fatalf("saw %d consecutive restarts in 6 min (gaps %v), want 3", len(gaps), gaps)
	}
	// The kubelet's back-off doubles from 10 s; timestamps are whole seconds.
	if gaps[len(gaps)-1] < 15*time.Second {
		t.Errorf("restart gaps %v: the last is under 15 s, not the kubelet's doubling back-off", gaps)
	}
	ev := kubectl(t, "-n", smokeNS, "get", "events", "--field-selector", "reason=BackOff", "-o", "name")
	if strings.TrimSpace(ev) == "" {
		t.Errorf("no BackOff event recorded")
	}
}

// TestServiceNameResolves: the loadgen reaches orders by its Service's DNS
// name (CoreDNS at 10.96.0.10, kube-proxy's iptables rules): its successful
// requests prove both.
func TestServiceNameResolves(t *testing.T) {
	applySmoke(t)
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		for _, p := range pods(t, smokeNS, "app.kubernetes.io/component=loadgen") {
			if p.Status.PodIP == "" {
				continue
			}
			body, err := get("http://" + p.Status.PodIP + ":9090/metrics")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, `loadgen_requests_total{code="200"}`) {
					t.Logf("loadgen %s: %s", p.Metadata.Name, line)
					logs := kubectl(t, "-n", "kube-system", "logs", "deploy/coredns")
					if !strings.Contains(logs, "orders.cascadelab-node-smoke.svc.cluster.local") {
						t.Errorf("CoreDNS did not log a query for orders' Service name")
					}
					return
				}
			}
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatal("loadgen never got a 200 from orders by its Service name")
}

func get(url string) (string, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// restarts is a pod's first container's restart count, read now.
func restarts(t *testing.T, name string) int {
	t.Helper()
	var p pod
	if err := json.Unmarshal([]byte(kubectl(t, "-n", smokeNS, "get", "pod", name, "-o", "json")), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Status.ContainerStatuses) == 0 {
		return -1
	}
	return p.Status.ContainerStatuses[0].RestartCount
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
