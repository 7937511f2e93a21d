package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/internal/testenv"
)

// steadyStateFault is a drill whose second fault starts 3 s into its 15 s
// steady state: the baseline it would be judged against holds the fault.
const steadyStateFault = `apiVersion: cascadelab.dev/v1alpha1
kind: Experiment
metadata:
  name: inside-steady-state
spec:
  victim:
    orders: {replicas: 2, cache: mutex}
  duration: 60s
  steadyState: 15s
  faults:
  - name: slow-ledger
    after: 20s
    networkChaos:
      action: delay
      mode: all
      selector: {labelSelectors: {app.kubernetes.io/component: ledger}}
      delay: {latency: 200ms}
      duration: 10s
  - name: early-kill
    after: 3s
    podChaos:
      action: pod-kill
      mode: one
      selector: {labelSelectors: {app.kubernetes.io/component: orders}}
`

// TestVerdictIntegrity holds the API's checks that keep a verdict honest.
func TestVerdictIntegrity(t *testing.T) {
	want := []string{"early-kill", "3s", "inside the steady state", "spec.steadyState 15s"}
	t.Run("fault inside the steady state refused by Validate", func(t *testing.T) {
		msg, layer := goCheck([]byte(steadyStateFault))
		if layer != "validate" {
			t.Fatalf("layer %q (%s), want a Validate rejection", layer, msg)
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("message %q lacks %q", msg, w)
			}
		}
		if !strings.Contains(msg, "spec.faults[1].after") || strings.Contains(msg, "slow-ledger") {
			t.Errorf("message %q: want spec.faults[1].after only", msg)
		}
		ok := strings.Replace(steadyStateFault, "after: 3s", "after: 15s", 1)
		if msg, layer := goCheck([]byte(ok)); layer != "" {
			t.Errorf("a fault at the end of the steady state refused: %s", msg)
		}
	})
	t.Run("fault inside the steady state refused by the CRD", func(t *testing.T) {
		if testing.Short() {
			t.Skip("envtest")
		}
		cfg, _ := testenv.Start(t)
		created, msg := createRaw(t, cfg, "default", []byte(steadyStateFault))
		if created {
			t.Fatal("accepted by the API server")
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("API server message %q lacks %q", msg, w)
			}
		}
		ok := strings.Replace(steadyStateFault, "after: 3s", "after: 15s", 1)
		if created, msg := createRaw(t, cfg, "default", []byte(ok)); !created {
			t.Errorf("a fault at the end of the steady state refused by the API server: %s", msg)
		}
	})
}
