package kube

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A recovery forced through is not a recovery. forceChaosGone counts a
// chaos object's time terminating on the manager's own clock, from when it
// first saw the object's deletionTimestamp: the deletionTimestamp is the
// API server's clock, and a manager whose wall clock runs ahead of it
// would find the object old at once and strip Chaos Mesh's finalizer
// before Chaos Mesh had a chance to recover. (A manager that restarts
// counts again from its own first sight: later, never sooner.) Each object
// whose finalizer it removed is booked by its Experiment, and
// finishStatus records RecoveryUnverified for that fault.

// chaosBook holds the sightings and the forced recoveries.
type chaosBook struct {
	mu          sync.Mutex
	terminating map[types.UID]time.Time         // chaos object → first seen terminating
	forced      map[types.UID]map[string]string // Experiment → chaos object name → note
}

var chaosSeen = &chaosBook{}

// age is how long the manager has seen the chaos object terminating.
func (b *chaosBook) age(obj types.UID, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.terminating == nil {
		b.terminating = map[types.UID]time.Time{}
	}
	first, ok := b.terminating[obj]
	if !ok {
		if len(b.terminating) >= 4096 {
			clear(b.terminating) // bounded; a sighting lost only delays forcing
		}
		b.terminating[obj] = now
		return 0
	}
	return now.Sub(first)
}

// markForced books chaos object name of Experiment exp as forced away.
func (b *chaosBook) markForced(exp types.UID, name, note string) {
	if exp == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.forced == nil {
		b.forced = map[types.UID]map[string]string{}
	}
	if len(b.forced) >= maxBookedDrills {
		clear(b.forced)
	}
	if b.forced[exp] == nil {
		b.forced[exp] = map[string]string{}
	}
	b.forced[exp][name] = note
}

// forcedOf returns the chaos objects of Experiment exp forced away.
func (b *chaosBook) forcedOf(exp types.UID) map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]string{}
	for k, v := range b.forced[exp] {
		out[k] = v
	}
	return out
}

// controllerUID is the UID of obj's controller ("" without one).
func controllerUID(obj metav1.Object) types.UID {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		return ref.UID
	}
	return ""
}

// noteUnverifiedRecoveries tells the drill's engine which faults' recovery
// was not confirmed: their chaos object forced away, or, for network
// faults, live rules the residue check found in a pod they hit. Called by
// finishStatus before the engine's status is read.
func (d *drill) noteUnverifiedRecoveries() {
	if d.run == nil || d.run.drv == nil {
		return
	}
	e, exp := d.run.drv.Engine(), d.exp
	at := d.offset()
	forced := chaosSeen.forcedOf(exp.UID)
	for i, f := range exp.Spec.Faults {
		if note, ok := forced[ChaosName(exp.Name, f.Name)]; ok {
			e.RecoveryUnverified(i, at, note)
		}
	}
	b := d.run.backend
	if b == nil || b.residue.done == nil {
		return
	}
	var left []string
	for _, p := range b.residue.done.Pods {
		if p.Left() {
			left = append(left, p.Pod)
		}
	}
	if len(left) == 0 {
		return
	}
	st := e.Status()
	for i, f := range exp.Spec.Faults {
		if f.NetworkChaos == nil || i >= len(st.Faults) {
			continue
		}
		var hit []string
		for _, pod := range left {
			if slices.Contains(st.Faults[i].Targets, pod) {
				hit = append(hit, pod)
			}
		}
		if len(hit) > 0 {
			e.RecoveryUnverified(i, at, fmt.Sprintf("%s recovered, but the residue check found chaos still acting on the traffic of %s (live iptables or tc rules)",
				f.Name, strings.Join(hit, ", ")))
		}
	}
}
