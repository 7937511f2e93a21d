package kube

import (
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// daemonBody is chaos-daemon's /metrics in the shape the real daemon wrote
// on the node lab (pinned Chaos Mesh commit): a ledger pod after a
// partition was recovered (the jumps from INPUT/OUTPUT to CHAOS-INPUT and
// CHAOS-OUTPUT stay, empty; the partition's own chain stays with its DROP,
// unreferenced), an orders pod with a live DROP still jumped to, and a
// gateway pod with a tbf left (3 tc rules where the baseline had 2) and a
// jump added to the emptied CHAOS-INPUT (inert).
const daemonBody = `# HELP chaos_daemon_ipset_members Total number of ipset members
# TYPE chaos_daemon_ipset_members gauge
chaos_daemon_ipset_members{container="victim",namespace="drills",pod="ledger-a"} 0
chaos_daemon_ipset_members{container="victim",namespace="drills",pod="orders-a"} 1
chaos_daemon_ipset_members{container="victim",namespace="drills",pod="gateway-a"} 0
chaos_daemon_ipset_members{container="victim",namespace="other",pod="ledger-a"} 5
# HELP chaos_daemon_iptables_packets Total number of iptables packets
# TYPE chaos_daemon_iptables_packets gauge
chaos_daemon_iptables_packets{chain="INPUT",container="victim",namespace="drills",pod="ledger-a",policy="ACCEPT",rule="-j CHAOS-INPUT",table="filter"} 22988
chaos_daemon_iptables_packets{chain="OUTPUT",container="victim",namespace="drills",pod="ledger-a",policy="ACCEPT",rule="-j CHAOS-OUTPUT",table="filter"} 20227
chaos_daemon_iptables_packets{chain="OUTPUT/node-1",container="victim",namespace="drills",pod="ledger-a",policy="",rule="-j DROP",table="filter"} 0
chaos_daemon_iptables_packets{chain="INPUT",container="victim",namespace="drills",pod="gateway-a",policy="ACCEPT",rule="-j CHAOS-INPUT",table="filter"} 7
chaos_daemon_iptables_packets{chain="OUTPUT",container="victim",namespace="drills",pod="orders-a",policy="ACCEPT",rule="-j CHAOS-OUTPUT",table="filter"} 10
chaos_daemon_iptables_packets{chain="CHAOS-OUTPUT",container="victim",namespace="drills",pod="orders-a",policy="",rule="-m set --match-set ledger dst -j OUTPUT/node-2",table="filter"} 10
chaos_daemon_iptables_packets{chain="OUTPUT/node-2",container="victim",namespace="drills",pod="orders-a",policy="",rule="-j DROP",table="filter"} 10
# HELP chaos_daemon_tcs_rules Total number of tc rules
# TYPE chaos_daemon_tcs_rules gauge
chaos_daemon_tcs_rules{container="victim",namespace="drills",pod="ledger-a"} 2
chaos_daemon_tcs_rules{container="victim",namespace="drills",pod="orders-a"} 2
chaos_daemon_tcs_rules{container="victim",namespace="drills",pod="gateway-a"} 3
`

// The residue check tells a live leftover (a DROP a built-in chain still
// jumps to, a tc rule or ipset member beyond the baseline) from an inert one
// (a chain nothing reaches), and keeps to the drill's namespace.
func TestResidueFromDaemonGauges(t *testing.T) {
	after := map[string]*podNet{}
	if err := parseDaemonNet(strings.NewReader(daemonBody), expfmt.NewFormat(expfmt.TypeTextPlain), "drills", after); err != nil {
		t.Fatal(err)
	}
	if len(after) != 3 || after["ledger-a"].ipset != 0 || after["orders-a"].ipset != 1 || after["gateway-a"].tc != 3 {
		t.Fatalf("parsed %v", after)
	}
	before := map[string]*podNet{
		"ledger-a": {tc: 2, rules: []string{"filter INPUT -j CHAOS-INPUT", "filter OUTPUT -j CHAOS-OUTPUT"}},
		// orders-a is a replacement pod: compared with the typical baseline.
		"gateway-a": {tc: 2},
		"load-a":    {tc: 2},
	}
	got := residueOf(before, after, []string{"ledger-a", "orders-a", "gateway-a", "gone-a"})
	if len(got) != 3 {
		t.Fatalf("pods %+v, want ledger, orders, gateway (gone-a was not seen)", got)
	}
	ledger, orders, gateway := got[0], got[1], got[2]
	if ledger.Left() || len(ledger.Live) != 0 || len(ledger.Inert) != 1 || ledger.Inert[0] != "filter OUTPUT/node-1 -j DROP" {
		t.Errorf("ledger %+v, want clean with one inert DROP chain", ledger)
	}
	if !orders.Left() || len(orders.Live) != 3 || orders.IPSetMembers != 1 || orders.IPSetMembersBefore != 0 || orders.TCRulesBefore != 2 {
		t.Errorf("orders %+v, want 3 live rules (the jump, the set match, the DROP), an ipset member, typical baseline tc 2", orders)
	}
	if !gateway.Left() || gateway.TCRules != 3 || gateway.TCRulesBefore != 2 || len(gateway.Live) != 0 || len(gateway.Inert) != 1 {
		t.Errorf("gateway %+v, want a tc rule left and the jump to the empty CHAOS-INPUT inert", gateway)
	}
}
