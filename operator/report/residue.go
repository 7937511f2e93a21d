package report

import (
	"fmt"
	"slices"
	"strings"
)

// Residue is the check for chaos left behind: what chaos-daemon's gauges
// showed in the victim pods' network namespaces after every fault was
// recovered, against a baseline read before the first network fault. Only
// the kubernetes backend checks (the local backend's faults are toxiproxy
// proxies it stops itself); nil when no network fault ran.
type Residue struct {
	// Checked says what was read, or why nothing could be.
	Checked string `json:"checked"`
	// Clean is true when the check ran, saw every pod a network fault hit
	// and found nothing that still acts on traffic: no live iptables rule,
	// no tc rule beyond the baseline. Inert leftovers (unreferenced chains,
	// ipset members no live rule matches) are listed but do not make it
	// unclean.
	Clean bool `json:"clean"`
	// Pods are the victim pods checked.
	Pods []ResiduePod `json:"pods,omitempty"`
}

// ResiduePod is one pod's network namespace after the faults.
type ResiduePod struct {
	Pod string `json:"pod"`
	// TCRules and IPSetMembers are chaos-daemon's counts now and before.
	TCRules            int `json:"tcRules"`
	TCRulesBefore      int `json:"tcRulesBefore"`
	IPSetMembers       int `json:"ipsetMembers"`
	IPSetMembersBefore int `json:"ipsetMembersBefore"`
	// Live are iptables rules ("table chain rule") added since the baseline
	// in chains a built-in chain reaches: they still filter the pod's
	// traffic. Inert are added rules nothing reaches (Chaos Mesh removes a
	// partition's jumps and leaves its chain).
	Live  []string `json:"live,omitempty"`
	Inert []string `json:"inert,omitempty"`
}

// Left reports whether anything of the chaos still acts on the pod's
// traffic: a live iptables rule or a tc rule beyond the baseline. An ipset
// does nothing by itself; a rule that matches it is live or inert.
func (p ResiduePod) Left() bool {
	return len(p.Live) > 0 || p.TCRules > p.TCRulesBefore
}

// InertLeft reports whether the chaos left something that no longer acts:
// unreferenced rules or ipset members beyond the baseline.
func (p ResiduePod) InertLeft() bool {
	return len(p.Inert) > 0 || p.IPSetMembers > p.IPSetMembersBefore
}

// writeResidue writes the Markdown section of the residue check.
func writeResidue(p func(string, ...any), r *Report) {
	res := r.Residue
	if res == nil {
		return
	}
	p("## Chaos left behind\n\n")
	verdict := "**Nothing left**. Checked: "
	switch {
	case len(res.Pods) == 0:
		verdict = "**Not checked**: "
	case !res.Clean && slices.ContainsFunc(res.Pods, ResiduePod.Left):
		verdict = "**Chaos left behind**. Checked: "
	case !res.Clean:
		verdict = "**Not all checked**: "
	}
	p("%s%s.\n\n", verdict, md(res.Checked))
	if len(res.Pods) == 0 {
		return
	}
	rows := make([][]string, len(res.Pods))
	for i, pod := range res.Pods {
		state := "clean"
		switch {
		case pod.Left():
			state = "LEFT"
		case pod.InertLeft():
			state = "inert leftovers"
		}
		rows[i] = []string{pod.Pod, fmt.Sprintf("%d (before %d)", pod.TCRules, pod.TCRulesBefore),
			fmt.Sprintf("%d (before %d)", pod.IPSetMembers, pod.IPSetMembersBefore),
			orDefault(strings.Join(pod.Live, "; "), "—"), orDefault(strings.Join(pod.Inert, "; "), "—"), state}
	}
	writeTable(p, []string{"Pod", "tc rules", "ipset members", "Live iptables rules added", "Inert rules added", "State"}, rows)
}
