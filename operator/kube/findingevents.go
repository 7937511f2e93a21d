package kube

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// findingBook remembers, per drill, the findings an Event was sent for, so
// that each finding gets exactly one Event whatever its time: status lists
// findings in time order, and one added when the drill is judged can have
// an early time (it is not at the end of the list), while a status patch
// that failed, or a cache that has not seen the last patch yet, shows the
// same finding as new again. A finding is keyed by type and target (the
// engine records one per pair); one already in the status a reconcile
// started from was sent by an earlier reconcile, or by a manager before a
// restart.
type findingBook struct {
	mu    sync.Mutex
	sent  map[types.UID]map[findingID]bool
	order []types.UID
}

type findingID struct {
	typ    v1alpha1.FindingType
	target string
}

// maxBookedDrills bounds the book: the oldest drill is dropped beyond it.
const maxBookedDrills = 256

// sentFindings is the manager's book.
var sentFindings = &findingBook{}

// fresh returns the findings of now not in before and not yet sent for
// drill uid, and books them as sent.
func (b *findingBook) fresh(uid types.UID, before, now []v1alpha1.Finding) []v1alpha1.Finding {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sent == nil {
		b.sent = map[types.UID]map[findingID]bool{}
	}
	sent := b.sent[uid]
	if sent == nil {
		sent = map[findingID]bool{}
		b.sent[uid] = sent
		b.order = append(b.order, uid)
		if len(b.order) > maxBookedDrills {
			delete(b.sent, b.order[0])
			b.order = b.order[1:]
		}
	}
	for _, f := range before {
		sent[findingID{f.Type, f.Target}] = true
	}
	var out []v1alpha1.Finding
	for _, f := range now {
		id := findingID{f.Type, f.Target}
		if !sent[id] {
			sent[id] = true
			out = append(out, f)
		}
	}
	return out
}
