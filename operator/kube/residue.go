package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/observe"
	"github.com/cascadelab/cascadelab/operator/report"
)

// The residue check. Chaos Mesh users report iptables, ipset and tc rules
// left in a pod's network namespace after a NetworkChaos ended (for example
// when the target crash-looped meanwhile, chaos-mesh#4827). chaos-daemon
// exports, per container it can see, every iptables rule in the container's
// network namespace (chaos_daemon_iptables_packets{table,chain,rule}), its
// ipset members (chaos_daemon_ipset_members) and its tc rules
// (chaos_daemon_tcs_rules). The operator reads them from every chaos-daemon
// pod before the first fault (the baseline) and again after the last fault
// was recovered, before the victim is deleted, and says in the report what
// was left.
const (
	// DaemonComponentLabel selects chaos-daemon's pods (the chart's label).
	DaemonComponentLabel = "app.kubernetes.io/component"
	daemonComponent      = "chaos-daemon"
	// daemonMetricsPort is chaos-daemon's --http-port default; the pod's
	// container port named "http" wins when there is one.
	daemonMetricsPort = 31766
)

// podNet is one pod's network state as chaos-daemon's gauges show it.
type podNet struct {
	tc, ipset int
	rules     []string // "table chain rule"
}

// DefaultChaosMeshNamespace is the namespace whose chaos-daemon pods the
// residue check reads unless the manager is told otherwise.
const DefaultChaosMeshNamespace = "chaos-mesh"

// Bounds on the residue check's reads of chaos-daemon. A pod labelled like
// chaos-daemon is only read in Chaos Mesh's namespace and when a DaemonSet
// controls it, and even then its body is not trusted to be small.
const (
	// daemonReadConcurrency bounds the daemons read at once (one per node).
	daemonReadConcurrency = 4
	// maxDaemonBytes bounds one daemon's /metrics body: its gauges are a
	// few lines per container of the node.
	maxDaemonBytes = 4 << 20
	// maxDaemonSeries bounds the lines of one body.
	maxDaemonSeries = 20_000
	// maxDaemonRule bounds one iptables rule's text (a label value).
	maxDaemonRule = 1024
)

// daemonLimits are the limits one daemon's body is scanned within.
var daemonLimits = observe.Limits{MaxBytes: maxDaemonBytes, MaxSeries: maxDaemonSeries, MaxLabelValue: maxDaemonRule}

// daemonFamilies are the gauges the residue check reads.
var daemonFamilies = map[string]bool{"chaos_daemon_iptables_packets": true, "chaos_daemon_ipset_members": true, "chaos_daemon_tcs_rules": true}

// chaosMeshNamespace is where chaos-daemon's pods are read.
func (r *ExperimentReconciler) chaosMeshNamespace() string {
	return orDefault(r.ChaosMeshNamespace, DefaultChaosMeshNamespace)
}

// daemonNet reads chaos-daemon's network gauges for the pods of namespace
// ns from the chaos-daemon pods of namespace cmNS (Chaos Mesh's) that a
// DaemonSet controls — a pod with the label anywhere else, or a bare pod,
// is not chaos-daemon and is never read — at most daemonReadConcurrency at
// once, each read bounded by daemonReadTimeout and maxDaemonBytes; it
// returns how many daemons answered. With none found or none answering it
// says why.
func daemonNet(ctx context.Context, c client.Reader, cmNS, ns string, proxy *PodProxy, hc *http.Client) (map[string]*podNet, int, error) {
	var daemons corev1.PodList
	if err := c.List(ctx, &daemons, client.InNamespace(cmNS), client.MatchingLabels{DaemonComponentLabel: daemonComponent}); err != nil {
		return nil, 0, fmt.Errorf("listing chaos-daemon pods in %s: %w", cmNS, err)
	}
	var running []*corev1.Pod
	for i := range daemons.Items {
		if p := &daemons.Items[i]; p.Namespace == cmNS && daemonSetPod(p) && p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning {
			running = append(running, p)
		}
	}
	got := make([]map[string]*podNet, len(running))
	errs := make([]error, len(running))
	sem := make(chan struct{}, daemonReadConcurrency)
	var wg sync.WaitGroup
	for i, p := range running {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			got[i] = map[string]*podNet{}
			if err := readDaemon(ctx, proxy.httpClient(hc), podURL(proxy, p, daemonPort(p))+"/metrics", ns, got[i]); err != nil {
				errs[i] = fmt.Errorf("chaos-daemon %s/%s: %w", p.Namespace, p.Name, err)
			}
		})
	}
	wg.Wait()
	out := map[string]*podNet{}
	answered := 0
	var lastErr error
	for i := range running {
		if errs[i] != nil {
			lastErr = errs[i]
			continue
		}
		answered++
		for pod, n := range got[i] { // a pod is on one node: one daemon sees it
			out[pod] = n
		}
	}
	switch {
	case answered > 0:
		return out, answered, nil
	case lastErr != nil:
		return nil, 0, lastErr
	default:
		return nil, 0, fmt.Errorf("no running chaos-daemon pod in namespace %s (label %s=%s, controlled by a DaemonSet)", cmNS, DaemonComponentLabel, daemonComponent)
	}
}

// daemonSetPod reports whether a DaemonSet controls p, as it does each
// chaos-daemon pod Chaos Mesh's chart installs.
func daemonSetPod(p *corev1.Pod) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "DaemonSet" && strings.HasPrefix(ref.APIVersion, "apps/")
}

func daemonPort(p *corev1.Pod) int {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == "http" {
				return int(port.ContainerPort)
			}
		}
	}
	return daemonMetricsPort
}

// daemonReadTimeout bounds one read of a chaos-daemon's /metrics.
const daemonReadTimeout = 10 * time.Second

// readDaemon adds one daemon's gauges for namespace ns to out.
func readDaemon(ctx context.Context, hc *http.Client, url, ns string, out map[string]*podNet) error {
	ctx, cancel := context.WithTimeout(ctx, daemonReadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	req.Header.Set("Accept-Encoding", "identity") // as the scraper: no gzip through a pod proxy either
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseDaemonNet(resp.Body, expfmt.ResponseFormat(resp.Header), ns, out)
}

// parseDaemonNet reads chaos-daemon's network gauges for namespace ns, a
// line at a time within daemonLimits (observe.ScanText): nothing of other
// families or namespaces is kept. Only the text format is read (the one
// asked for).
func parseDaemonNet(r io.Reader, format expfmt.Format, ns string, out map[string]*podNet) error {
	if t := format.FormatType(); t != expfmt.TypeTextPlain && t != expfmt.TypeUnknown {
		return fmt.Errorf("chaos-daemon's metrics in %s, not the text format asked for", format)
	}
	return observe.ScanText(r, daemonLimits, daemonFamilies, func(name string, l map[string]string, v float64) {
		if l["namespace"] != ns || l["pod"] == "" {
			return
		}
		pn := out[l["pod"]]
		if pn == nil {
			pn = &podNet{}
			out[l["pod"]] = pn
		}
		switch name {
		case "chaos_daemon_iptables_packets":
			pn.rules = append(pn.rules, l["table"]+" "+l["chain"]+" "+l["rule"])
		case "chaos_daemon_ipset_members":
			pn.ipset += int(v)
		case "chaos_daemon_tcs_rules":
			pn.tc += int(v)
		}
	})
}

// residueOf compares the gauges after the faults with the baseline read
// before them. A pod with no baseline (a replacement after a pod-kill, or
// a manager restarted mid-drill) is compared with the counts most pods had
// before, or, with no baseline at all, with those most pods of the
// namespace have after (most were not hit: the load, the gateway). An iptables rule added since the baseline is live when a built-in
// chain reaches its chain through jumps (it still filters the pod's
// traffic, and it acts: a verdict, or a jump to a chain with such a rule)
// and inert otherwise (Chaos Mesh removes a partition's jumps but leaves the
// chain and its ipset with its members, and leaves INPUT/OUTPUT jumping to
// its emptied CHAOS-INPUT and CHAOS-OUTPUT: seen on the node lab after
// every recovered partition).
func residueOf(before, after map[string]*podNet, pods []string) []report.ResiduePod {
	typical := typicalBaseline(before)
	if len(before) == 0 {
		typical = typicalBaseline(after) // most pods of the namespace were not hit
	}
	var out []report.ResiduePod
	for _, name := range pods {
		a := after[name]
		if a == nil {
			continue
		}
		b := before[name]
		if b == nil {
			b = typical
		}
		rp := report.ResiduePod{Pod: name, TCRules: a.tc, TCRulesBefore: b.tc, IPSetMembers: a.ipset, IPSetMembersBefore: b.ipset}
		reach, acts := reachable(a.rules), effective(a.rules)
		for _, r := range a.rules {
			if slices.Contains(b.rules, r) {
				continue
			}
			table, chain := ruleChain(r)
			if reach[table+" "+chain] && acts[r] {
				rp.Live = append(rp.Live, r)
			} else {
				rp.Inert = append(rp.Inert, r)
			}
		}
		out = append(out, rp)
	}
	return out
}

// typicalBaseline is the tc and ipset counts most pods had before the
// faults, with no iptables rule.
func typicalBaseline(before map[string]*podNet) *podNet {
	count := map[[2]int]int{}
	best, bestN := [2]int{}, 0
	for _, p := range before {
		k := [2]int{p.tc, p.ipset}
		count[k]++
		if count[k] > bestN || (count[k] == bestN && (k[0] < best[0] || k[0] == best[0] && k[1] < best[1])) {
			best, bestN = k, count[k]
		}
	}
	return &podNet{tc: best[0], ipset: best[1]}
}

func ruleChain(r string) (table, chain string) {
	f := strings.SplitN(r, " ", 3)
	if len(f) < 2 {
		return "", ""
	}
	return f[0], f[1]
}

// verdicts are the iptables targets that decide or change a packet's fate.
var verdicts = []string{"DROP", "REJECT", "ACCEPT", "RETURN", "QUEUE", "NFQUEUE", "MARK", "CONNMARK",
	"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "TPROXY", "CT", "NOTRACK", "TCPMSS", "TOS", "DSCP", "CLASSIFY"}

// target is a rule's -j/-g target, "" when it has none.
func target(r string) string {
	f := strings.Fields(r)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-j" || f[i] == "-g" || f[i] == "--jump" || f[i] == "--goto" {
			return f[i+1]
		}
	}
	return ""
}

// effective returns the rules that act on a packet: a verdict target, or a
// jump to a chain holding such a rule (a jump to an empty chain does
// nothing).
func effective(rules []string) map[string]bool {
	byChain := map[string][]string{}
	for _, r := range rules {
		table, chain := ruleChain(r)
		byChain[table+" "+chain] = append(byChain[table+" "+chain], r)
	}
	memo := map[string]bool{}
	var acts func(r string, depth int) bool
	acts = func(r string, depth int) bool {
		if v, ok := memo[r]; ok || depth > 32 {
			return v
		}
		memo[r] = false // a loop acts on nothing
		table, _ := ruleChain(r)
		t := target(r)
		v := slices.Contains(verdicts, t)
		for _, sub := range byChain[table+" "+t] {
			v = v || acts(sub, depth+1)
		}
		memo[r] = v
		return v
	}
	for _, r := range rules {
		acts(r, 0)
	}
	return memo
}

// reachable returns the "table chain" pairs a built-in chain reaches
// through -j/-g jumps.
func reachable(rules []string) map[string]bool {
	jumps := map[string][]string{}
	for _, r := range rules {
		table, chain := ruleChain(r)
		if t := target(r); t != "" {
			jumps[table+" "+chain] = append(jumps[table+" "+chain], table+" "+t)
		}
	}
	seen := map[string]bool{}
	var visit func(string)
	visit = func(k string) {
		if seen[k] {
			return
		}
		seen[k] = true
		for _, n := range jumps[k] {
			visit(n)
		}
	}
	for _, r := range rules {
		table, chain := ruleChain(r)
		switch chain {
		case "INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING":
			visit(table + " " + chain)
		}
	}
	return seen
}
