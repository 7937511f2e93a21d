//go:build node

package node

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// podFailureDrill takes the ledger down with Chaos Mesh's pod-failure for
// 20 s: the real controller swaps the container's image for the chart's
// pause image, the kubelet stops the victim (SIGTERM) and restarts pause,
// whose probes fail, with its back-off; then the image is restored.
const podFailureDrill = `apiVersion: cascadelab.dev/v1alpha1
kind: Experiment
metadata: {name: pod-failure, namespace: ` + drillNS + `}
spec:
  victim:
    orders: {replicas: 1, cache: sharded}
    ledger: {idempotency: cas}
    gateway: {mode: bounded, timeout: 500ms, retries: 2}
  load: {rate: 50}
  duration: 50s
  steadyState: 10s
  faults:
  - name: fail-ledger
    after: 10s
    podChaos:
      action: pod-failure
      mode: all
      duration: 20s
      selector: {labelSelectors: {app.kubernetes.io/component: ledger}}
`

// TestPodFailureSwapsTheImage: pod-failure by the real Chaos Mesh on a real
// kubelet — the ledger's image becomes the pause image while the fault is
// on and the victim's again after; the kubelet's restarts of the ledger
// during it are the fault's (the timeline names it), not crashes.
func TestPodFailureSwapsTheImage(t *testing.T) {
	deployOperator(t)
	applyDrill(t, "pod-failure", podFailureDrill)
	image := func() string {
		return kubectl(t, "-n", drillNS, "get", "pods", "-l", "app.kubernetes.io/component=ledger", "-o", "jsonpath={.items[*].spec.containers[0].image}")
	}
	waitExperiment(t, "pod-failure", 3*time.Minute, "with the fault injected", func(e experiment) bool {
		return len(e.Status.Faults) == 1 && e.Status.Faults[0].State == "Injected"
	})
	if img := image(); !strings.Contains(img, "pause") {
		t.Errorf("ledger image during pod-failure: %q, want the chart's pause image", img)
	}
	waitExperiment(t, "pod-failure", 3*time.Minute, "with the fault recovered", func(e experiment) bool {
		return terminal(e) || e.Status.Faults[0].State == "Recovered"
	})
	if img := image(); img != "" && strings.Contains(img, "pause") {
		t.Errorf("ledger image after the recovery: %q, want the victim's again", img)
	}
	e := waitExperiment(t, "pod-failure", 4*time.Minute, "finished", terminal)
	t.Logf("phase %s, verdict %s, summary %+v", e.Status.Phase, e.Status.Verdict, e.Status.Summary)
	if f := e.Status.Faults[0]; f.State != "Recovered" || f.Effect != "Confirmed" {
		t.Errorf("fault: %+v, want Recovered, Confirmed", f)
	}
	for _, f := range e.Status.Findings {
		t.Logf("finding %s %s: %s", f.Type, f.Target, f.Message)
		if (f.Type == "ProcessCrashed" || f.Type == "Restarts") && strings.Contains(f.Message+f.Target, "-ledger-") {
			t.Errorf("the fault's restarts of the ledger counted as the victim's: %s %s", f.Type, f.Message)
		}
	}
	raw := kubectl(t, "-n", drillNS, "get", "configmap", e.Status.ReportRef.ConfigMap, "-o", "jsonpath={.data.report\\.json}")
	var doc struct {
		Timeline []struct {
			Kind, Target, Detail string
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, ev := range doc.Timeline {
		if ev.Kind == "ProcessKilled" && strings.Contains(ev.Target, "-ledger-") {
			killed++
			t.Logf("timeline: %s %s: %s", ev.Kind, ev.Target, ev.Detail)
			if !strings.Contains(ev.Detail, "fail-ledger (PodChaos pod-failure)") {
				t.Errorf("a ledger exit during pod-failure not attributed to it: %s", ev.Detail)
			}
		}
	}
	if killed == 0 {
		t.Errorf("no ledger exit in the timeline: the kubelet's stop of the victim under pod-failure was not seen")
	}
}
