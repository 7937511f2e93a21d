package testenv_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/internal/testenv"
)

// TestChaosMesh runs Chaos Mesh's real controller-manager beside envtest:
// its webhooks default and validate chaos objects, it executes a pod-kill,
// it accepts a NetworkChaos (which then waits for chaos-daemon), and every
// chaos object can be removed afterwards.
func TestChaosMesh(t *testing.T) {
	envStart := time.Now()
	cfg, c := testenv.Start(t)
	envDur := time.Since(envStart)
	cm := testenv.StartChaosMesh(t, cfg)
	t.Logf("envtest start %v; StartChaosMesh %v, of which CRDs %v (webhook port %d, log %s)",
		envDur.Round(time.Millisecond), cm.StartDuration.Round(time.Millisecond), cm.CRDDuration.Round(time.Millisecond), cm.WebhookPort, cm.LogPath)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("chaos-%d", time.Now().UnixNano())
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	// Runs before the controller stops (cleanups run last-in first-out).
	t.Cleanup(func() {
		if err := testenv.DeleteAllChaos(context.Background(), c, "", 2*time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	labels := map[string]string{"app": "victim"}
	zero := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "victim-0", Labels: labels},
		Spec: corev1.PodSpec{
			// No kubelet: a pod bound to a node with a grace period would
			// stay Terminating forever.
			NodeName:                      "envtest-node",
			TerminationGracePeriodSeconds: &zero,
			Containers:                    []corev1.Container{{Name: "victim", Image: "cascadelab/victim:test"}},
		},
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	selector := func(mode chaosv1alpha1.SelectorMode, value string) chaosv1alpha1.PodSelector {
		return chaosv1alpha1.PodSelector{
			Mode: mode, Value: value,
			Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: labels}},
		}
	}

	t.Run("pod-kill", func(t *testing.T) {
		pc := &chaosv1alpha1.PodChaos{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kill"},
			Spec: chaosv1alpha1.PodChaosSpec{
				Action:            chaosv1alpha1.PodKillAction,
				ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: selector(chaosv1alpha1.OneMode, "")},
			},
		}
		created := time.Now()
		if err := c.Create(ctx, pc); err != nil {
			t.Fatalf("create PodChaos: %v", err)
		}
		// Defaulted by Chaos Mesh's mutating webhook.
		if got := pc.Spec.Selector.Namespaces; !slices.Equal(got, []string{ns}) {
			t.Errorf("selector.namespaces = %v, want [%s] (mutating webhook)", got, ns)
		}
		for {
			err := c.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{})
			if apierrors.IsNotFound(err) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if ctx.Err() != nil {
				t.Fatalf("pod %s not deleted by the pod-kill", pod.Name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("pod deleted by Chaos Mesh %v after the PodChaos was created", time.Since(created).Round(time.Millisecond))
		// The controller records the injection.
		waitFor(ctx, t, "PodChaos AllInjected", func() bool {
			if err := c.Get(ctx, client.ObjectKeyFromObject(pc), pc); err != nil {
				t.Fatal(err)
			}
			for _, cond := range pc.Status.Conditions {
				if cond.Type == chaosv1alpha1.ConditionAllInjected && cond.Status == corev1.ConditionTrue {
					return true
				}
			}
			return false
		})
	})

	t.Run("rejected", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			spec chaosv1alpha1.PodChaosSpec
			want string
		}{
			{"fixed-abc", chaosv1alpha1.PodChaosSpec{
				Action:            chaosv1alpha1.PodKillAction,
				ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: selector(chaosv1alpha1.FixedMode, "abc")},
			}, `parse value field error:strconv.Atoi: parsing "abc": invalid syntax`},
			{"container-kill-no-container", chaosv1alpha1.PodChaosSpec{
				Action:            chaosv1alpha1.ContainerKillAction,
				ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: selector(chaosv1alpha1.OneMode, "")},
			}, "the name of container is required on container-kill action"},
		} {
			pc := &chaosv1alpha1.PodChaos{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tc.name}, Spec: tc.spec}
			err := c.Create(ctx, pc)
			if err == nil {
				t.Errorf("%s: created, want rejected by Chaos Mesh's validating webhook", tc.name)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, `admission webhook "vpodchaos.kb.io" denied the request`) || !strings.Contains(msg, tc.want) {
				t.Errorf("%s: error %q, want Chaos Mesh's webhook denial with %q", tc.name, msg, tc.want)
			} else {
				t.Logf("%s: %v", tc.name, err)
			}
		}
	})

	t.Run("networkchaos", func(t *testing.T) {
		nc := &chaosv1alpha1.NetworkChaos{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "delay"},
			Spec: chaosv1alpha1.NetworkChaosSpec{
				PodSelector: selector(chaosv1alpha1.AllMode, ""),
				Action:      chaosv1alpha1.DelayAction,
				TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "10ms"}},
			},
		}
		if err := c.Create(ctx, nc); err != nil {
			t.Fatalf("create NetworkChaos: %v", err)
		}
		if got := nc.Spec.Selector.Namespaces; !slices.Equal(got, []string{ns}) {
			t.Errorf("selector.namespaces = %v, want [%s] (mutating webhook)", got, ns)
		}
		if nc.Spec.Direction != chaosv1alpha1.To {
			t.Errorf("direction = %q, want %q", nc.Spec.Direction, chaosv1alpha1.To)
		}
		if nc.Spec.Delay.Jitter != "0ms" || nc.Spec.Delay.Correlation != "0" {
			t.Errorf("delay = %+v, want jitter 0ms and correlation 0 defaulted", *nc.Spec.Delay)
		}
		// The controller takes it on: its records finalizer is added.
		waitFor(ctx, t, "NetworkChaos finalizer", func() bool {
			if err := c.Get(ctx, client.ObjectKeyFromObject(nc), nc); err != nil {
				t.Fatal(err)
			}
			return slices.Contains(nc.Finalizers, "chaos-mesh/records")
		})
	})

	t.Run("force-delete", func(t *testing.T) {
		// A finalizer nobody clears, as with a NetworkChaos waiting for
		// chaos-daemon: ForceDeleteChaos clears it after the grace period.
		nc := &chaosv1alpha1.NetworkChaos{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stuck", Finalizers: []string{"cascadelab.dev/stuck"}},
			Spec: chaosv1alpha1.NetworkChaosSpec{
				PodSelector: selector(chaosv1alpha1.AllMode, ""),
				Action:      chaosv1alpha1.LossAction,
				TcParameter: chaosv1alpha1.TcParameter{Loss: &chaosv1alpha1.LossSpec{Loss: "50"}},
			},
		}
		if err := c.Create(ctx, nc); err != nil {
			t.Fatalf("create NetworkChaos: %v", err)
		}
		if err := testenv.ForceDeleteChaos(ctx, c, nc, 500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(nc), nc); !apierrors.IsNotFound(err) {
			t.Fatalf("NetworkChaos still there: %v", err)
		}
	})

	t.Run("cleanup", func(t *testing.T) {
		start := time.Now()
		if err := testenv.DeleteAllChaos(ctx, c, ns, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		n, err := testenv.CountChaos(ctx, c, "")
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d chaos objects left", n)
		}
		t.Logf("all chaos objects deleted in %v", time.Since(start).Round(time.Millisecond))
	})

	stop := time.Now()
	if err := cm.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !cm.Exited() {
		t.Errorf("controller still running after Stop")
	}
	t.Logf("Stop took %v", time.Since(stop).Round(time.Millisecond))
}

// TestStartChaosMeshMissingBinary checks that StartChaosMesh builds nothing
// and says how to get the binary (or skips under -short).
func TestStartChaosMeshMissingBinary(t *testing.T) {
	t.Setenv(testenv.ChaosMeshBinaryEnv, filepath.Join(t.TempDir(), "missing"))
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testenv.StartChaosMesh(ft, nil)
	}()
	<-done
	want := "run `make chaos-mesh-assets`"
	if testing.Short() {
		want = "skipped under -short"
	}
	if !strings.Contains(ft.msg, want) {
		t.Errorf("message %q, want it to contain %q", ft.msg, want)
	}
	if _, err := os.Stat(testenv.ChaosMeshBinary()); err == nil {
		t.Errorf("a binary appeared at %s", testenv.ChaosMeshBinary())
	}
}

// fatalTB records Fatalf and Skipf instead of ending the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Skipf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
