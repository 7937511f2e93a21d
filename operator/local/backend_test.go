package local

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

func TestStartStopLeavesNothing(t *testing.T) {
	b := newFake(t, 2)
	targets := b.Targets()
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Name)
		if tg.Labels[LabelComponent] != tg.Role || tg.Labels[LabelName] != AppName || tg.Labels[LabelInstance] != "test" {
			t.Errorf("%s: labels %v", tg.Name, tg.Labels)
		}
	}
	if got := strings.Join(names, ","); got != "ledger-0,orders-0,orders-1,gateway-0" {
		t.Fatalf("targets %s", got)
	}
	if _, err := pay(b.GatewayURL(), 5*time.Second); err != nil {
		t.Fatalf("pay through gateway → orders → ledger: %v", err)
	}
	pods := b.Pods()
	if len(children(t)) != 4 {
		t.Errorf("children %v, want 4", children(t))
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if alive(p.PID) {
			t.Errorf("%s (pid %d) still alive after Stop", p.Name, p.PID)
		}
		for _, u := range []string{p.AppURL, p.AdminURL} {
			if u != "" && listening(u) {
				t.Errorf("%s: %s still listening after Stop", p.Name, u)
			}
		}
	}
	select {
	case c := <-b.Crashes():
		t.Errorf("Stop reported a crash: %+v", c)
	default:
	}
	dir := b.DataDir()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir %s left behind (%v)", dir, err)
	}
	if c := children(t); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

func TestSupervisorRestartsWithBackoffAndHeadline(t *testing.T) {
	b := newFake(t, 1,
		WithEnv("FAKEVICTIM_CRASH=orders", "FAKEVICTIM_CRASH_AFTER=1500ms"),
		WithBackoff(Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Reset: time.Minute}))
	var crashes []observe.Crash
	var latencies []time.Duration
	for len(crashes) < 3 {
		select {
		case c := <-b.Crashes():
			got := time.Now()
			crashes = append(crashes, c)
			// The fake writes ts=<unix ns> just before it exits.
			tail := b.pods[1].tail()
			if i := strings.LastIndex(tail, "ts="); i >= 0 {
				ns, _ := strconv.ParseInt(strings.Fields(tail[i+3:])[0], 10, 64)
				latencies = append(latencies, got.Sub(time.Unix(0, ns)))
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d crashes reported", len(crashes))
		}
	}
	for _, c := range crashes {
		if c.Target != "orders-0" || c.ExitCode != 2 || c.Signal != "" || c.Injected ||
			c.Headline != "fatal error: concurrent map writes" {
			t.Errorf("crash %+v", c)
		}
	}
	for i := 1; i < len(crashes); i++ {
		if gap := crashes[i].At - crashes[i-1].At; gap < 1500*time.Millisecond {
			t.Errorf("crash %d came %v after the previous one: restarted too early", i, gap)
		}
	}
	if r := b.Restarts()["orders-0"]; r < 2 {
		t.Errorf("restarts %d, want ≥2", r)
	}
	t.Logf("exit-to-report latencies: %v", latencies)
	for _, l := range latencies {
		if l > time.Second {
			t.Errorf("crash reported %v after the exit, goal ≤1s", l)
		}
	}
}

// DefaultBackoff is the kubelet's CrashLoopBackOff: the first crash
// restarts at once, then 10 s doubling to 5 min, and a process that stayed
// up 10 min restarts at once again.
func TestBackoffSequence(t *testing.T) {
	bo := DefaultBackoff
	var waits []time.Duration
	d := time.Duration(0)
	for range 9 {
		var w time.Duration
		w, d = bo.next(d, time.Second)
		waits = append(waits, w)
	}
	s := time.Second
	want := []time.Duration{0, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s, 300 * s, 300 * s}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	if w, after := bo.next(300*s, 10*time.Minute); w != 0 || after != 10*s {
		t.Errorf("after 10 min up: wait %v then %v, want 0 then 10s", w, after)
	}
	if w, _ := bo.next(300*s, 9*time.Minute); w != 300*s {
		t.Errorf("after 9 min up: wait %v, want 5m0s", w)
	}
}

func podChaos(action chaosv1alpha1.PodChaosAction, mode chaosv1alpha1.SelectorMode, value, component string, dur *string) v1alpha1.Fault {
	return v1alpha1.Fault{Name: "f", PodChaos: &chaosv1alpha1.PodChaosSpec{
		ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: chaosv1alpha1.PodSelector{
			Mode: mode, Value: value,
			Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{
				LabelSelectors: map[string]string{LabelComponent: component}}},
		}},
		Action: action, Duration: dur,
	}}
}

func TestPodKillModeOne(t *testing.T) {
	b := newFake(t, 3)
	before := b.Pods()
	targets, err := b.Inject(context.Background(), 0, podChaos(chaosv1alpha1.PodKillAction, chaosv1alpha1.OneMode, "", RoleOrders, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || !strings.HasPrefix(targets[0], "orders-") {
		t.Fatalf("targets %v, want one orders pod", targets)
	}
	select {
	case c := <-b.Crashes():
		if c.Target != targets[0] || !c.Injected || c.Signal != "SIGKILL" || c.ExitCode != -1 {
			t.Errorf("crash %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no crash reported for the kill")
	}
	eventually(t, 10*time.Second, targets[0]+" to come back", func() bool {
		s := podByName(b, targets[0])
		return s.Running && s.Replaced == 1 && s.InjectedRestarts == 0 && listening(s.AdminURL)
	})
	for _, p := range before {
		now := podByName(b, p.Name)
		if now.Restarts != 0 {
			t.Errorf("%s: organic restarts %d", p.Name, now.Restarts)
		}
		if (p.Name == targets[0]) == (now.PID == p.PID) {
			t.Errorf("%s: pid %d → %d", p.Name, p.PID, now.PID)
		}
	}
	if err := b.Recover(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
}

func TestPodFailureKeepsPodDown(t *testing.T) {
	b := newFake(t, 2)
	dur := "1500ms"
	start := time.Now()
	targets, err := b.Inject(context.Background(), 0, podChaos(chaosv1alpha1.PodFailureAction, chaosv1alpha1.AllMode, "", RoleLedger, &dur))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(targets, ",") != "ledger-0" {
		t.Fatalf("targets %v", targets)
	}
	time.Sleep(900 * time.Millisecond) // well past the 100ms-scale restart of a plain kill
	if s := podByName(b, "ledger-0"); s.Running {
		t.Fatalf("ledger-0 running %v into a 1.5s pod-failure", time.Since(start))
	}
	eventually(t, 10*time.Second, "ledger-0 back after the pod-failure", func() bool {
		return podByName(b, "ledger-0").Running
	})
	if up := time.Since(start); up < 1500*time.Millisecond {
		t.Errorf("back after %v, before the 1.5s duration", up)
	}
	if s := podByName(b, "ledger-0"); s.Restarts != 0 || s.InjectedRestarts != 1 {
		t.Errorf("restarts %d organic, %d injected", s.Restarts, s.InjectedRestarts)
	}
}

func TestClosePanicPathLeavesNothing(t *testing.T) {
	var pids []int
	func() {
		defer func() { _ = recover() }()
		b, err := New("panic", v1alpha1.VictimSpec{Orders: v1alpha1.OrdersSpec{Replicas: 1}},
			WithVictimCommand(fakeVictim), WithDataDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, p := range b.Pods() {
			pids = append(pids, p.PID)
		}
		panic("driver bug")
	}()
	if len(pids) != 3 {
		t.Fatalf("pids %v", pids)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d alive after Close", pid)
		}
	}
	if c := children(t); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

func TestStartFailureNamesProcess(t *testing.T) {
	b, err := New("bad", v1alpha1.VictimSpec{}, WithVictimCommand("/bin/sh", "-c", "echo 'panic: no config' >&2; exit 3", "sh"),
		WithReadyTimeout(2*time.Second), WithDataDir(t.TempDir()), WithBackoff(Backoff{Initial: 50 * time.Millisecond, Max: 100 * time.Millisecond, Reset: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ledger-0") || !strings.Contains(err.Error(), "panic: no config") {
		t.Fatalf("Start error %v, want one naming ledger-0 with its stderr", err)
	}
}
