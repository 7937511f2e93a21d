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

const (
	smokeNS    = "cascadelab-node-smoke"
	podLogsDir = "/var/lib/cascadelab-node/pod-logs" // the kubelet's podLogsDir (hack/node/up.sh)
)

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
		UID  string `json:"uid"`
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

// applySmoke applies the smoke manifest and waits for the ledger and the
// loadgen (orders crash-loops by design).
func applySmoke(t *testing.T) {
	t.Helper()
	kubectl(t, "apply", "-f", filepath.Join(repoRoot(t), "hack", "node", "manifests", "smoke-racy.yaml"))
	for _, d := range []string{"ledger", "loadgen"} {
		kubectl(t, "-n", smokeNS, "rollout", "status", "deploy/"+d, "--timeout=180s")
	}
}

// TestRacyOrdersCrashOnRealKubelet: the racy orders container dies with the
// runtime's fatal error, the kubelet puts the headline in
// lastState.terminated.message (FallbackToLogsOnError) and restarts it with
// its back-off (10 s, 20 s, 40 s …).
func TestRacyOrdersCrashOnRealKubelet(t *testing.T) {
	applySmoke(t)
	// A fresh orders pod: the kubelet's back-off starts again from zero (other
	// tests may have let the old one climb to minutes).
	kubectl(t, "-n", smokeNS, "delete", "pod", "-l", "app.kubernetes.io/component=orders", "--wait=true", "--timeout=90s")
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
					// `kubectl logs --previous` names the latest terminated
					// instance, which may already be a later one; the kubelet's
					// own file for this instance (attempt RestartCount-1) is
					// exact: pod-logs/<ns>_<pod>_<uid>/<container>/<attempt>.log.
					file := filepath.Join(podLogsDir, fmt.Sprintf("%s_%s_%s", smokeNS, p.Metadata.Name, p.Metadata.UID),
						cs.Name, fmt.Sprintf("%d.log", cs.RestartCount-1))
					prevLog, err := os.ReadFile(file)
					if err != nil {
						t.Logf("restart %d: %v (collected by the kubelet); not judged", cs.RestartCount, err)
						continue
					}
					if !strings.Contains(string(prevLog), "fatal error: concurrent map") {
						tail := string(prevLog)
						if len(tail) > 3000 {
							tail = tail[len(tail)-3000:]
						}
						t.Fatalf("neither the termination message nor %s has the fatal error headline; log tail:\n%s", file, tail)
					}
					lostHeadline++
					t.Logf("restart %d: headline not in the %d-byte termination message, found in the container's log file", cs.RestartCount, len(term.Message))
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
	t.Logf("crashes with the headline in lastState.terminated.message: %d; only in the log file: %d", inMessage, lostHeadline)
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

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
