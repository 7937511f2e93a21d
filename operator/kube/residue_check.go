package kube

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
	"github.com/cascadelab/cascadelab/operator/report"
)

// residueHTTP reads chaos-daemon's metrics; each request's context bounds
// it (daemonReadTimeout). A redirect is an answer, never followed.
var residueHTTP = &http.Client{CheckRedirect: observe.NoRedirect}

// residueWait is how long the check waits for a pod a network fault hit to
// have a running container again: chaos-daemon's gauges cover only running
// containers, and a target that crash-looped (chaos-mesh#4827's case) or
// that the kubelet restarted on failed probes may be in the kubelet's
// back-off (10 s, doubling: 90 s covers the wait before a fourth restart).
const residueWait = 90 * time.Second

// residueCheck is the backend's state of the residue check: the baseline
// read before the first network fault (nil when it was not read: no
// network fault yet, or a manager restarted since), when the check first
// ran, and the result.
type residueCheck struct {
	before  map[string]*podNet
	baseErr string
	since   time.Time
	done    *report.Residue
}

// residueBaseline reads chaos-daemon's gauges before the first network
// fault is created.
func (b *clusterBackend) residueBaseline(ctx context.Context) {
	if b.residue.before != nil || b.residue.baseErr != "" {
		return
	}
	m, _, err := daemonNet(ctx, b.r.reader(), b.r.chaosMeshNamespace(), b.exp().Namespace, b.r.PodProxy, residueHTTP)
	if err != nil {
		b.residue.baseErr = err.Error()
		return
	}
	b.residue.before = m
}

// checkResidue reads the gauges again once every chaos object is gone and
// before the victim is deleted, and compares (once per drill). It returns
// true to be called again: a pod a network fault hit is not seen by any
// daemon yet (no running container) and residueWait has not passed.
func (b *clusterBackend) checkResidue(ctx context.Context) (again bool) {
	exp := b.exp()
	if b.residue.done != nil || !slices.ContainsFunc(exp.Spec.Faults, func(f v1alpha1.Fault) bool { return f.NetworkChaos != nil }) {
		return false
	}
	if b.residue.since.IsZero() {
		b.residue.since = b.d.now
	}
	res := &report.Residue{}
	pods, err := listPods(ctx, b.r.Client, exp)
	if err != nil {
		res.Checked = "could not list the victim's pods: " + err.Error()
		b.residue.done = res
		return false
	}
	after, n, err := daemonNet(ctx, b.r.reader(), b.r.chaosMeshNamespace(), exp.Namespace, b.r.PodProxy, residueHTTP)
	if err != nil {
		res.Checked = "could not read chaos-daemon's gauges: " + err.Error()
		b.residue.done = res
		return false
	}
	waited := b.d.now.Sub(b.residue.since)
	names, unseen, again := residueSeen(pods, after, b.networkHit, waited)
	if again {
		return true
	}
	b.residue.done = res
	res.Pods = residueOf(b.residue.before, after, names)
	res.Clean = len(res.Pods) > 0
	var left []string
	for _, p := range res.Pods {
		if p.Left() {
			res.Clean = false
			left = append(left, p.Pod)
		}
	}
	base := "the baseline read before the first network fault"
	switch {
	case b.residue.baseErr != "":
		base = "no baseline (" + b.residue.baseErr + "; compared with no rule and the tc and ipset counts most pods of the namespace have)"
	case b.residue.before == nil:
		base = "no baseline (none read by this manager: it was restarted during the drill, or no network fault was created; compared with no rule and the tc and ipset counts most pods of the namespace have)"
	}
	res.Checked = fmt.Sprintf("chaos-daemon's gauges (chaos_daemon_iptables_packets, chaos_daemon_ipset_members, chaos_daemon_tcs_rules) from %d daemon(s) for %d victim pod(s), read after every chaos object was gone, against %s", n, len(res.Pods), base)
	if waited >= time.Second {
		res.Checked += fmt.Sprintf("; waited %s for the pods the network faults hit to run again", waited.Round(time.Second))
	}
	if len(unseen) > 0 {
		res.Checked += "; not seen by any daemon (no running container): " + strings.Join(unseen, ", ")
	}
	// A pod a network fault hit that no daemon saw was not checked: the
	// check cannot say it is clean (the cold CI run's cascade: its ledger,
	// restarted by the kubelet under the bandwidth limit, was in back-off).
	if slices.ContainsFunc(unseen, b.networkHit) {
		res.Clean = false
		res.Checked += " — a pod the network faults hit was not checked"
	}
	if len(left) > 0 {
		b.d.event(corev1.EventTypeWarning, "ChaosResidue", "chaos left in the network namespace of %s after every fault was recovered (report: Chaos left behind)", strings.Join(left, ", "))
	}
	return false
}

// residueSeen names the pods and those no daemon saw, and says whether to
// read again: an unseen pod a network fault may have hit (hit) can still run
// again and residueWait has not passed (waited).
func residueSeen(pods []corev1.Pod, after map[string]*podNet, hit func(pod string) bool, waited time.Duration) (names, unseen []string, again bool) {
	names = make([]string, 0, len(pods))
	for i := range pods {
		p := &pods[i]
		names = append(names, p.Name)
		if after[p.Name] == nil {
			unseen = append(unseen, p.Name)
			again = again || (waited < residueWait && mayRunAgain(p) && hit(p.Name))
		}
	}
	return names, unseen, again
}

// mayRunAgain reports whether a pod's containers may run again: it is not
// being deleted and has not ended (a crash-looping pod is Running).
func mayRunAgain(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending)
}

// networkHit reports whether a network fault of the drill may have hit pod:
// it selected the pod, Chaos Mesh never said which pods it selected, or this
// manager does not know (it was restarted during the drill).
func (b *clusterBackend) networkHit(pod string) bool {
	known := false
	for _, k := range b.podFaults {
		if !k.network {
			continue
		}
		known = true
		if k.targets == nil || slices.Contains(k.targets, pod) {
			return true
		}
	}
	return !known
}
