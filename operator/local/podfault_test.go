package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// sigHelperEnv makes this test binary, run as a child, a victim stand-in
// that serves the admin endpoints and writes each SIGTERM/SIGINT it gets to
// stderr ("sighelper: got terminated"); it exits 0 on it, except in the
// roles listed in sigHelperIgnoreEnv, which carry on.
const (
	sigHelperEnv       = "CASCADELAB_LOCAL_SIGHELPER"
	sigHelperIgnoreEnv = "CASCADELAB_LOCAL_SIGHELPER_IGNORE_TERM"
)

func init() {
	if os.Getenv(sigHelperEnv) == "1" {
		sigHelper()
	}
}

func sigHelper() {
	flags := map[string]string{}
	for _, a := range os.Args[1:] {
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		flags[k] = v
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "go_goroutines 3\n") })
	for _, addr := range []string{flags["admin-listen"], flags["listen"]} {
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "listen %s: %v\n", addr, err)
			os.Exit(1)
		}
		go http.Serve(ln, mux)
	}
	ignore := slices.Contains(strings.Split(os.Getenv(sigHelperIgnoreEnv), ","), flags["role"])
	for s := range sig {
		fmt.Fprintf(os.Stderr, "sighelper: got %v\n", s)
		if !ignore {
			os.Exit(0)
		}
	}
}

// nextCrash waits for the next crash report.
func nextCrash(t *testing.T, b *Backend) observe.Crash {
	t.Helper()
	select {
	case c := <-b.Crashes():
		return c
	case <-time.After(60 * time.Second):
		t.Fatal("no crash reported")
		return observe.Crash{}
	}
}

func (b *Backend) pod(name string) *pod {
	for _, p := range b.pods {
		if p.name == name {
			return p
		}
	}
	return nil
}

// pod-failure stops the process as the kubelet stops a container: SIGTERM
// first. The fake victim exits 0 on it, so the crash is exit 0 with no
// signal, long before the 30 s grace would have sent SIGKILL.
func TestPodFailureSendsSIGTERMFirst(t *testing.T) {
	b := newFake(t, 1)
	if _, err := b.Inject(context.Background(), 0, podChaos(chaosv1alpha1.PodFailureAction, chaosv1alpha1.AllMode, "", RoleLedger, nil)); err != nil {
		t.Fatal(err)
	}
	c := nextCrash(t, b)
	if c.Target != "ledger-0" || c.ExitCode != 0 || c.Signal != "" || !c.Injected {
		t.Errorf("crash %+v, want ledger-0 exiting 0 by itself, injected", c)
	}
	if tail := b.pod("ledger-0").tail(); !strings.Contains(tail, "fakevictim: terminated") {
		t.Errorf("the process did not see SIGTERM; stderr tail:\n%s", tail)
	}
	if err := b.Recover(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "ledger-0 back after recovery", func() bool { return podByName(b, "ledger-0").Running })
	if s := podByName(b, "ledger-0"); s.Restarts != 0 || s.InjectedRestarts != 1 {
		t.Errorf("restarts %d organic, %d injected; want 0 and 1", s.Restarts, s.InjectedRestarts)
	}
}

// A process that ignores SIGTERM is killed with SIGKILL once the
// termination grace period is over, and not before.
func TestPodFailureKillsAfterGrace(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const grace = 1500 * time.Millisecond
	b := newFake(t, 1, WithVictimCommand(self), WithTerminationGrace(grace),
		WithEnv(sigHelperEnv+"=1", sigHelperIgnoreEnv+"="+RoleLedger))
	start := time.Now()
	if _, err := b.Inject(context.Background(), 0, podChaos(chaosv1alpha1.PodFailureAction, chaosv1alpha1.AllMode, "", RoleLedger, nil)); err != nil {
		t.Fatal(err)
	}
	c := nextCrash(t, b)
	took := time.Since(start)
	if c.Target != "ledger-0" || c.Signal != "SIGKILL" || !c.Injected {
		t.Errorf("crash %+v, want ledger-0 killed by SIGKILL, injected", c)
	}
	if took < grace {
		t.Errorf("killed %v after the injection, before the %v grace period", took, grace)
	}
	if tail := b.pod("ledger-0").tail(); !strings.Contains(tail, "sighelper: got terminated") {
		t.Errorf("no SIGTERM before the SIGKILL; stderr tail:\n%s", tail)
	}
	t.Logf("SIGTERM ignored, SIGKILL %v after the injection (grace %v)", took.Round(time.Millisecond), grace)
}

// pod-kill replaces the process at once as a new pod would: a new Instance,
// no restart counted and no back-off, however often it happens.
// container-kill is a container restart: counted, and under the crash-loop
// back-off (immediate the first time, Initial the next).
func TestPodKillReplacesContainerKillRestarts(t *testing.T) {
	b := newFake(t, 1, WithBackoff(Backoff{Initial: time.Minute, Max: time.Minute, Reset: time.Hour}))
	instance := func() string {
		for _, tg := range b.Targets() {
			if tg.Name == "orders-0" {
				return tg.Instance
			}
		}
		return ""
	}
	seen := []string{instance()}
	if seen[0] == "" {
		t.Fatal("orders-0 has no instance while running")
	}
	fault := 0
	kill := func(action chaosv1alpha1.PodChaosAction) {
		t.Helper()
		if _, err := b.Inject(context.Background(), fault, podChaos(action, chaosv1alpha1.AllMode, "", RoleOrders, nil)); err != nil {
			t.Fatal(err)
		}
		fault++
		if c := nextCrash(t, b); c.Target != "orders-0" || !c.Injected || c.Signal != "SIGKILL" {
			t.Errorf("%s: crash %+v", action, c)
		}
	}
	// Two pod-kills in a row: with a one-minute back-off, a restart under
	// back-off would not be back within the 20 s waited here.
	for range 2 {
		kill(chaosv1alpha1.PodKillAction)
		eventually(t, 20*time.Second, "orders-0 replaced", func() bool {
			in := instance()
			return in != "" && !slices.Contains(seen, in)
		})
		seen = append(seen, instance())
	}
	if s := podByName(b, "orders-0"); s.Restarts != 0 || s.InjectedRestarts != 0 || s.Replaced != 2 {
		t.Errorf("after two pod-kills: restarts %d organic, %d injected, %d replaced; want 0, 0, 2", s.Restarts, s.InjectedRestarts, s.Replaced)
	}
	// The first container-kill restarts at once, the second waits a minute.
	kill(chaosv1alpha1.ContainerKillAction)
	eventually(t, 20*time.Second, "orders-0 restarted", func() bool {
		in := instance()
		return in != "" && !slices.Contains(seen, in)
	})
	if s := podByName(b, "orders-0"); s.Restarts != 0 || s.InjectedRestarts != 1 || s.Replaced != 2 {
		t.Errorf("after a container-kill: restarts %d organic, %d injected, %d replaced; want 0, 1, 2", s.Restarts, s.InjectedRestarts, s.Replaced)
	}
	kill(chaosv1alpha1.ContainerKillAction)
	time.Sleep(time.Second) // the back-off is a minute
	if s := podByName(b, "orders-0"); s.Running || instance() != "" {
		t.Errorf("orders-0 running again (instance %q) within a second of a second container-kill: no back-off", instance())
	}
}
