package kube

import (
	"context"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// syncFaults reads Chaos Mesh's view of every fault: injections it
// confirmed are reported to the engine (with the pods it hit), and the chaos
// objects of faults the engine considers over (instant faults such as
// pod-kill, once confirmed) are deleted.
func (d *drill) syncFaults(ctx context.Context) error {
	for i := range d.exp.Spec.Faults {
		if err := d.syncFault(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

func (d *drill) syncFault(ctx context.Context, i int) error {
	if d.run.gone[i] {
		return nil
	}
	f := d.exp.Spec.Faults[i]
	off := d.offset()
	if off < f.After.Duration && d.exp.Status.StartTime != nil {
		return nil
	}
	st := d.run.eng.Status()
	if i >= len(st.Faults) {
		return nil
	}
	state := st.Faults[i].State
	if state == v1alpha1.FaultFailed {
		return nil
	}
	cs, err := readChaos(ctx, d.r.reader(), d.exp, i)
	if err != nil {
		if err == ErrChaosMeshMissing {
			return nil
		}
		return err
	}
	if !cs.Exists {
		if state != v1alpha1.FaultPending {
			d.markGone(i)
		}
		return nil
	}
	if state == v1alpha1.FaultPending && cs.Injected {
		for k := range d.run.podKills {
			if d.run.podKills[k].fault == i {
				d.run.podKills[k].targets = append([]string{}, cs.Targets...)
			}
		}
		d.run.eng.FaultInjected(i, off, cs.Targets)
		d.event("Normal", "FaultInjected", "Chaos Mesh injected %s into %v at %s", f.Name, cs.Targets, off.Round(time.Millisecond))
		state = d.run.eng.Status().Faults[i].State
	}
	if state == v1alpha1.FaultRecovered {
		// An instant fault: Chaos Mesh did its work, the object can go.
		if err := deleteChaos(ctx, d.r.Client, d.exp, i); err != nil {
			return err
		}
		d.markGone(i)
		setFaultActive(d.exp.Name, f.Name, FaultKind(f), false)
	}
	return nil
}

func (d *drill) markGone(i int) {
	if d.run.gone == nil {
		d.run.gone = map[int]bool{}
	}
	d.run.gone[i] = true
}
