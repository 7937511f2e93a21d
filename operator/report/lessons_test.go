package report

import (
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// lessonText is every lesson's title and text, one per line.
func lessonText(r *Report) string {
	var b strings.Builder
	for _, l := range r.lessons() {
		b.WriteString(l.Title + ". " + l.Text + "\n")
	}
	return b.String()
}

func lessonTitles(r *Report) map[string]bool {
	m := map[string]bool{}
	for _, l := range r.lessons() {
		m[l.Title] = true
	}
	return m
}

// targetDrill is the cascade's findings and faults against existing pods:
// spec.target set, no spec.victim.
func targetDrill() *Report {
	r := cascade()
	r.Spec.Victim = nil
	r.Spec.Target = &v1alpha1.TargetSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "payments"}}, AdminPort: 9090}
	// The user's own fault names, on the user's own pods.
	r.Spec.Faults[0].Name, r.Spec.Faults[1].Name = "slow-db", "kill-one-payments"
	r.Faults[0].Name, r.Faults[1].Name = "slow-db", "kill-one-payments"
	r.Faults[0].Targets, r.Faults[1].Targets = []string{"payments-7d9f-abc"}, []string{"payments-7d9f-xyz"}
	r.Findings = append(r.Findings,
		v1alpha1.Finding{Type: v1alpha1.FindingRestarts, At: dur(30 * time.Second), Target: "payments-7d9f-abc", Message: "2 restarts > 0"},
		v1alpha1.Finding{Type: v1alpha1.FindingAborted, At: dur(50 * time.Second), Message: "error ratio above 0.95 for 10s"})
	return r
}

func TestLessonsTargetDrillNamesNoKitService(t *testing.T) {
	r := targetDrill()
	text := lessonText(r)
	// Every finding and both injected faults still teach something...
	for _, title := range []string{"A concurrent map write is a fatal error, not a panic", "A check-then-act lets a duplicate through",
		"Goroutines that wait forever leak", "Failures travel upstream", "A restart hides a crash and loses what was in memory",
		"A killed process takes its requests in flight with it", "Latency multiplies the work in flight", "The abort guard stopped the drill"} {
		if !lessonTitles(r)[title] {
			t.Errorf("target drill lacks the lesson %q:\n%s", title, text)
		}
	}
	// ...but nothing about the kit's victim, which this drill did not have.
	for _, kit := range []string{"gateway", "ledger", "orders cache", "janitor", "cache strategies",
		"`racy`", "`cas`", "`none`", "`leaky`", "`bounded`", "`sharded`", "PREPARE"} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(kit)) {
			t.Errorf("target drill's lessons mention %q:\n%s", kit, text)
		}
	}
	mustContain(t, text, "payments-7d9f-abc", "payments-7d9f-xyz") // the pods the faults hit
}

func TestLessonsFaultKindOnlyWhenInjected(t *testing.T) {
	const kill, delay, cut = "A killed process takes its requests in flight with it", "Latency multiplies the work in flight",
		"A lossy or cut network is paid for in waiting"
	const failure = "A failed pod stops serving without going away"
	check := func(name string, r *Report, want map[string]bool) {
		t.Helper()
		got := lessonTitles(r)
		for title, w := range want {
			if got[title] != w {
				t.Errorf("%s: lesson %q present = %v, want %v", name, title, got[title], w)
			}
		}
	}
	r := cascade()
	check("both injected", r, map[string]bool{kill: true, delay: true, cut: false, failure: false})
	mustContain(t, lessonText(r), "at 300 req/s, 200ms more on each request", "about 60 more requests in flight")

	r = cascade()
	r.Faults[1] = v1alpha1.FaultStatus{Name: "kill-one-orders", State: v1alpha1.FaultPending}
	check("kill still pending", r, map[string]bool{kill: false, delay: true})

	r = cascade()
	r.Faults[1].State, r.Faults[1].Message = v1alpha1.FaultFailed, "rejected"
	check("kill failed", r, map[string]bool{kill: false, delay: true})

	r = cascade()
	r.Findings = append(r.Findings, v1alpha1.Finding{Type: v1alpha1.FindingFaultNotInjected, Target: "slow-ledger",
		Message: "slow-ledger (NetworkChaos) selected no pod: nothing was injected"})
	check("delay selected no pod", r, map[string]bool{kill: true, delay: false})

	r = cascade()
	r.Faults = nil
	check("no statuses", r, map[string]bool{kill: false, delay: false})

	// A partition and a pod-failure, injected, each teach their own.
	r = cascade()
	r.Spec.Faults[0].NetworkChaos.Action, r.Spec.Faults[0].NetworkChaos.Delay = chaosv1alpha1.PartitionAction, nil
	r.Spec.Faults[1].PodChaos.Action, r.Spec.Faults[1].PodChaos.Duration = chaosv1alpha1.PodFailureAction, ptrTo("10s")
	check("partition and pod-failure", r, map[string]bool{kill: false, delay: false, cut: true, failure: true})
}

func TestLessonsFollowVictimModes(t *testing.T) {
	const crash, racyQuiet = "A concurrent map write is a fatal error, not a panic", "The racy cache did not crash this time"

	// Racy cache and its crash: the lesson names the racy cache and its fixes.
	r := cascade()
	mustContain(t, lessonText(r), "the orders cache ran `racy`", "cache strategies `mutex`")

	// A concurrent map crash with a mutex cache is not the cache's doing.
	r = cascade()
	r.Spec.Victim.Orders.Cache = v1alpha1.CacheMutex
	if text := lessonText(r); !lessonTitles(r)[crash] || strings.Contains(text, "`racy`") || strings.Contains(text, "cache strategies") {
		t.Errorf("mutex cache: want the generic crash lesson, no racy cache:\n%s", text)
	}

	// Racy but no crash: it says why that proves nothing; a fixed cache says nothing about it.
	r = fixed()
	r.Verdict = v1alpha1.VerdictViolated
	r.Spec.Victim.Orders.Cache = v1alpha1.CacheRacy
	if !lessonTitles(r)[racyQuiet] {
		t.Errorf("racy cache without a crash: no lesson about it:\n%s", lessonText(r))
	}
	if text := lessonText(fixed()); strings.Contains(text, "racy") {
		t.Errorf("sharded cache: lessons mention racy:\n%s", text)
	}

	// Ledger idempotency: none recommends cas; cas says its guard failed.
	r = cascade()
	mustContain(t, lessonText(r), "idempotency `cas`) makes the second charge fail")
	r.Spec.Victim.Ledger.Idempotency = v1alpha1.IdempotencyCAS
	text := lessonText(r)
	mustContain(t, text, "a duplicate under `cas` means that guard failed")
	if strings.Contains(text, "idempotency `none`") {
		t.Errorf("cas ledger: lessons speak of idempotency none:\n%s", text)
	}

	// Gateway: leaky names its mode; bounded does not blame it.
	r = cascade()
	mustContain(t, lessonText(r), "the gateway's `leaky` mode")
	r.Spec.Victim.Gateway.Mode = v1alpha1.GatewayBounded
	if text := lessonText(r); strings.Contains(text, "`leaky`") || !lessonTitles(r)["Goroutines that wait forever leak"] {
		t.Errorf("bounded gateway: want the generic leak lesson without `leaky`:\n%s", text)
	}

	// No retries: no retry sentence.
	r = cascade()
	r.Spec.Victim.Gateway.Retries = ptrTo[int32](0)
	if text := lessonText(r); strings.Contains(text, "retries each call") || strings.Contains(text, "and a retry") {
		t.Errorf("no retries configured, lessons speak of retries:\n%s", text)
	}
}

func TestLessonsInconclusiveTeachNoHold(t *testing.T) {
	r := inconclusive()
	got := lessonTitles(r)
	if got["The hypothesis held"] {
		t.Error("an Inconclusive drill teaches that the hypothesis held")
	}
	// Its pod-kill never happened; its delay was injected (effect unseen).
	if got["A killed process takes its requests in flight with it"] {
		t.Error("lesson about a pod-kill that was never injected")
	}
	if !lessonTitles(fixed())["The hypothesis held"] {
		t.Error("a held drill lacks its lesson")
	}
}
