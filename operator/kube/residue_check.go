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
	"github.com/cascadelab/cascadelab/operator/report"
)

// residueHTTP reads chaos-daemon's metrics.
var residueHTTP = &http.Client{Timeout: 10 * time.Second}

// residueCheck is the backend's state of the residue check: the baseline
// read before the first network fault (nil when it was not read: no
// network fault yet, or a manager restarted since) and the result.
type residueCheck struct {
	before  map[string]*podNet
	baseErr string
	done    *report.Residue
}

// residueBaseline reads chaos-daemon's gauges before the first network
// fault is created.
func (b *clusterBackend) residueBaseline(ctx context.Context) {
	if b.residue.before != nil || b.residue.baseErr != "" {
		return
	}
	m, _, err := daemonNet(ctx, b.r.reader(), b.exp().Namespace, b.r.PodProxy, residueHTTP)
	if err != nil {
		b.residue.baseErr = err.Error()
		return
	}
	b.residue.before = m
}

// checkResidue reads the gauges again once every chaos object is gone and
// before the victim is deleted, and compares (once per drill).
func (b *clusterBackend) checkResidue(ctx context.Context) {
	exp := b.exp()
	if b.residue.done != nil || !slices.ContainsFunc(exp.Spec.Faults, func(f v1alpha1.Fault) bool { return f.NetworkChaos != nil }) {
		return
	}
	res := &report.Residue{}
	b.residue.done = res
	pods, err := listPods(ctx, b.r.Client, exp)
	if err != nil {
		res.Checked = "could not list the victim's pods: " + err.Error()
		return
	}
	after, n, err := daemonNet(ctx, b.r.reader(), exp.Namespace, b.r.PodProxy, residueHTTP)
	if err != nil {
		res.Checked = "could not read chaos-daemon's gauges: " + err.Error()
		return
	}
	names := make([]string, 0, len(pods))
	for i := range pods {
		names = append(names, pods[i].Name)
	}
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
	var unseen []string
	for _, name := range names {
		if after[name] == nil {
			unseen = append(unseen, name)
		}
	}
	if len(unseen) > 0 {
		res.Checked += "; not seen by any daemon (no running container): " + strings.Join(unseen, ", ")
	}
	if len(left) > 0 {
		b.d.event(corev1.EventTypeWarning, "ChaosResidue", "chaos left in the network namespace of %s after every fault was recovered (report: Chaos left behind)", strings.Join(left, ", "))
	}
}
