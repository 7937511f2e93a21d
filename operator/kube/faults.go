package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
)

// EnsureFault makes fault i's chaos object exist and be injected (active)
// or be gone (!active). An injection is acknowledged when Chaos Mesh says
// all its targets are injected (AllInjected), with the pods it recorded; a
// removal when the object no longer exists. A chaos object refused by the
// API server, Chaos Mesh's validation or its webhook is Permanent (the drill
// goes on without the fault, which ends it Inconclusive); so is a cluster
// without Chaos Mesh.
func (b *clusterBackend) EnsureFault(ctx context.Context, i int, active bool) (drive.FaultAck, error) {
	if active {
		return b.inject(ctx, i)
	}
	return b.remove(ctx, i)
}

func (b *clusterBackend) inject(ctx context.Context, i int) (drive.FaultAck, error) {
	exp := b.exp()
	f := exp.Spec.Faults[i]
	if err := b.ensureNames(ctx); err != nil {
		return drive.FaultAck{}, err
	}
	cs, err := readChaos(ctx, b.r.reader(), exp, i)
	switch {
	case chaosMissing(err):
		return drive.FaultAck{}, errNoChaosMesh
	case isConflict(err):
		return drive.FaultAck{}, b.failConflict(err, true)
	case err != nil:
		return drive.FaultAck{}, err
	}
	if !cs.Exists {
		if f.NetworkChaos != nil {
			b.residueBaseline(ctx)
		}
		err := createChaos(ctx, b.r.Client, b.r.reader(), exp, i)
		switch {
		case chaosMissing(err):
			return drive.FaultAck{}, errNoChaosMesh
		case isConflict(err):
			return drive.FaultAck{}, b.failConflict(err, true)
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || isValidation(err) || isWebhookDenial(err):
			setCondition(exp, v1alpha1.ConditionChaosActive, metav1.ConditionFalse, ReasonChaosRejected, err.Error())
			b.d.event(corev1.EventTypeWarning, ReasonChaosRejected, "fault %s: %v", f.Name, err)
			return drive.FaultAck{}, drive.Permanent(err)
		case err != nil:
			return drive.FaultAck{}, err
		}
		if f.PodChaos != nil || f.NetworkChaos != nil {
			b.podFaults = append(b.podFaults, podKill{fault: i, at: b.d.now, network: f.NetworkChaos != nil})
		}
		setFaultActive(exp.Namespace, exp.Name, f.Name, FaultKind(f), true)
		b.d.event(corev1.EventTypeNormal, "FaultCreated", "%s %s created at %s", FaultKind(f), ChaosName(exp.Name, f.Name), b.d.offset().Round(time.Millisecond))
		return drive.FaultAck{Detail: "created; waiting for Chaos Mesh"}, nil
	}
	if !cs.Injected {
		if cs.Failure != "" {
			return drive.FaultAck{Detail: "Chaos Mesh failed to inject: " + cs.Failure}, nil
		}
		return drive.FaultAck{Detail: "waiting for Chaos Mesh to inject"}, nil
	}
	for k := range b.podFaults {
		if b.podFaults[k].fault == i {
			b.podFaults[k].targets = append([]string{}, cs.Targets...)
		}
	}
	b.d.event(corev1.EventTypeNormal, "FaultInjected", "Chaos Mesh injected %s into %v at %s", f.Name, cs.Targets, b.d.offset().Round(time.Millisecond))
	return drive.FaultAck{Done: true, Targets: cs.Targets}, nil
}

// remove deletes fault i's chaos object and reports it gone once it no
// longer exists; one stuck behind Chaos Mesh's finalizer is forced away
// after the reconciler's ChaosFinalizerTimeout (with a Warning Event).
func (b *clusterBackend) remove(ctx context.Context, i int) (drive.FaultAck, error) {
	exp := b.exp()
	f := exp.Spec.Faults[i]
	for k := range b.podFaults {
		if b.podFaults[k].fault == i && b.podFaults[k].until.IsZero() {
			b.podFaults[k].until = b.d.now
		}
	}
	obj := emptyChaos(exp, i)
	err := b.r.reader().Get(ctx, keyOf(obj), obj)
	switch {
	case apierrors.IsNotFound(err) || chaosMissing(mapNoMatch(err)) || (err == nil && !ownedBy(obj, exp)):
		// Gone, or another's of that name (never the drill's to delete).
		setFaultActive(exp.Namespace, exp.Name, f.Name, FaultKind(f), false)
		return drive.FaultAck{Done: true}, nil
	case err != nil:
		return drive.FaultAck{}, err
	}
	if obj.GetDeletionTimestamp() == nil {
		if err := deleteChaos(ctx, b.r.Client, b.r.reader(), exp, i); err != nil {
			return drive.FaultAck{}, err
		}
		b.d.event(corev1.EventTypeNormal, "FaultRecovered", "%s %s deleted at %s", FaultKind(f), ChaosName(exp.Name, f.Name), b.d.offset().Round(time.Millisecond))
		return drive.FaultAck{Detail: "deleted; waiting for Chaos Mesh to recover"}, nil
	}
	note, err := forceChaosGone(ctx, b.r.Client, obj, b.d.now, b.r.chaosFinalizerTimeout())
	if err != nil {
		return drive.FaultAck{}, err
	}
	if note != "" {
		b.d.event(corev1.EventTypeWarning, "ChaosFinalizerForced", "%s", note)
	}
	return drive.FaultAck{Detail: fmt.Sprintf("%s terminating behind Chaos Mesh's finalizer", obj.GetName())}, nil
}
