package kube

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// chaos-daemon sees only running containers: the check reads again while a
// pod a network fault hit (chaos-mesh#4827's crash-looping target) has none
// and may run again, for at most residueWait; a pod no network fault hit, a
// pod being deleted or one that ended is not waited for.
func TestResidueWaitsForHitPodsToRunAgain(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase, deleting bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}
		return p
	}
	after := map[string]*podNet{"gateway-a": {tc: 2}}
	hitLedger := func(p string) bool { return strings.HasPrefix(p, "ledger-") }
	crashLooping := []corev1.Pod{pod("gateway-a", corev1.PodRunning, false), pod("ledger-a", corev1.PodRunning, false), pod("orders-a", corev1.PodRunning, false)}

	names, unseen, again := residueSeen(crashLooping, after, hitLedger, 5*time.Second)
	if !again || !slices.Equal(names, []string{"gateway-a", "ledger-a", "orders-a"}) || !slices.Equal(unseen, []string{"ledger-a", "orders-a"}) {
		t.Errorf("hit ledger not running: names %v unseen %v again %v, want to read again", names, unseen, again)
	}
	if _, unseen, again := residueSeen(crashLooping, after, hitLedger, residueWait); again || len(unseen) != 2 {
		t.Errorf("after residueWait: unseen %v again %v, want to stop and name both", unseen, again)
	}
	if _, _, again := residueSeen(crashLooping, after, func(string) bool { return false }, 0); again {
		t.Errorf("waited for pods no network fault hit")
	}
	ended := []corev1.Pod{pod("ledger-a", corev1.PodSucceeded, false), pod("ledger-b", corev1.PodRunning, true)}
	if _, _, again := residueSeen(ended, after, hitLedger, 0); again {
		t.Errorf("waited for an ended pod or one being deleted")
	}
	// Which pods a network fault may have hit: those it selected; all when
	// Chaos Mesh did not say, or when this manager has no record (it was
	// restarted during the drill).
	b := &clusterBackend{podFaults: []podKill{{fault: 0, network: false}, {fault: 1, network: true, targets: []string{"ledger-a"}}}}
	if !b.networkHit("ledger-a") || b.networkHit("orders-a") {
		t.Errorf("networkHit with known targets: ledger-a %v orders-a %v", b.networkHit("ledger-a"), b.networkHit("orders-a"))
	}
	b.podFaults[1].targets = nil
	if !b.networkHit("orders-a") {
		t.Errorf("targets not reported: orders-a not counted as hit")
	}
	if b = (&clusterBackend{}); !b.networkHit("orders-a") {
		t.Errorf("no record (manager restarted): orders-a not counted as hit")
	}

	after["ledger-a"], after["orders-a"] = &podNet{}, &podNet{}
	if _, unseen, again := residueSeen(crashLooping, after, hitLedger, time.Second); again || len(unseen) != 0 {
		t.Errorf("every pod seen: unseen %v again %v", unseen, again)
	}
}
