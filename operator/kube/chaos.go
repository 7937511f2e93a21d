package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// ErrChaosMeshMissing is returned when Chaos Mesh's CRDs are not installed.
var ErrChaosMeshMissing = errors.New("Chaos Mesh CRDs (chaos-mesh.org/v1alpha1 PodChaos, NetworkChaos) are not installed")

// chaosObject is a Chaos Mesh object with its status conditions.
type chaosObject interface {
	client.Object
	GetStatus() *chaosv1alpha1.ChaosStatus
}

// ChaosName is the name of the chaos object of fault in experiment exp.
func ChaosName(exp, fault string) string { return exp + "-" + fault }

// FaultKind is "PodChaos" or "NetworkChaos" for a fault.
func FaultKind(f v1alpha1.Fault) string {
	if f.NetworkChaos != nil {
		return "NetworkChaos"
	}
	return "PodChaos"
}

// BuildChaos returns the Chaos Mesh object for fault i of exp, labelled and
// owned by exp, with every selector confined to the experiment's namespace
// (Chaos Mesh matches all namespaces when selector.namespaces is empty and
// its webhook is absent) and, for the kit's own victim, to its instance.
// The object has Chaos Mesh's defaults applied and passed its Validate.
func BuildChaos(ctx context.Context, exp *v1alpha1.Experiment, i int) (chaosObject, error) {
	f := exp.Spec.Faults[i]
	om := metav1.ObjectMeta{
		Name: ChaosName(exp.Name, f.Name), Namespace: exp.Namespace,
		Labels:          map[string]string{LabelExperiment: exp.Name, LabelManagedBy: ManagedBy, "cascadelab.dev/fault": f.Name},
		OwnerReferences: []metav1.OwnerReference{ownerRef(exp)},
	}
	confine := func(s *chaosv1alpha1.PodSelectorSpec) {
		s.Namespaces = []string{exp.Namespace}
		if s.Pods != nil {
			s.Pods = map[string][]string{exp.Namespace: s.Pods[exp.Namespace]}
		}
		if exp.Spec.Victim != nil {
			if s.LabelSelectors == nil {
				s.LabelSelectors = map[string]string{}
			}
			s.LabelSelectors[LabelInstance] = exp.Name
		}
	}
	var obj chaosObject
	var warn []string
	var err error
	switch {
	case f.PodChaos != nil:
		pc := &chaosv1alpha1.PodChaos{ObjectMeta: om, Spec: *f.PodChaos.DeepCopy()}
		confine(&pc.Spec.Selector)
		_ = pc.Default(ctx, pc)
		warn, err = pc.Validate()
		obj = pc
	case f.NetworkChaos != nil:
		nc := &chaosv1alpha1.NetworkChaos{ObjectMeta: om, Spec: *f.NetworkChaos.DeepCopy()}
		confine(&nc.Spec.Selector)
		if nc.Spec.Target != nil {
			confine(&nc.Spec.Target.Selector)
		}
		_ = nc.Default(ctx, nc)
		warn, err = nc.Validate()
		obj = nc
	default:
		return nil, fmt.Errorf("fault %q has neither podChaos nor networkChaos", f.Name)
	}
	_ = warn
	if err != nil && !skipLocalChaosValidation.Load() {
		return nil, fmt.Errorf("fault %q rejected by Chaos Mesh validation: %w", f.Name, err)
	}
	return obj, nil
}

// skipLocalChaosValidation turns off BuildChaos's own run of Chaos Mesh's
// validation, so that tests can check what happens when Chaos Mesh's
// admission webhook is the one that refuses a chaos object (a cluster
// running a Chaos Mesh whose validation differs from the api module the
// operator is built with). Only tests set it.
var skipLocalChaosValidation atomic.Bool

// isWebhookDenial reports whether err is an admission webhook's refusal (a
// decision, not an outage: an unreachable webhook is an InternalError
// "failed calling webhook", which is retried).
func isWebhookDenial(err error) bool {
	return err != nil && apierrors.IsForbidden(err) && strings.Contains(err.Error(), "admission webhook") &&
		strings.Contains(err.Error(), "denied the request")
}

// Chaos Mesh's finalizer on chaos objects, and the annotation that makes
// its controller drop the finalizer without recovering (its documented
// escape hatch for chaos that cannot be recovered).
const (
	chaosMeshRecordsFinalizer  = "chaos-mesh/records"
	chaosMeshCleanFinalizer    = "chaos-mesh.chaos-mesh.org/cleanFinalizer"
	chaosMeshCleanFinalizerYes = "forced"
)

// forceChaosGone is the last resort for a chaos object stuck terminating
// behind Chaos Mesh's finalizer (its recovery cannot finish, e.g.
// chaos-daemon is unreachable, or Chaos Mesh is gone): once it has been
// terminating for timeout, the object is annotated for Chaos Mesh's forced
// clean; once it has been terminating for twice timeout, Chaos Mesh's
// finalizers are removed by the operator itself (and the fault's recovery
// is booked unverified: RecoveryUnverified). The time terminating is the
// manager's own, from its first sight of the deletion (recovery.go). It
// returns a note for an Event when it acted, "" otherwise.
func forceChaosGone(ctx context.Context, c client.Client, obj client.Object, now time.Time, timeout time.Duration) (string, error) {
	dt := obj.GetDeletionTimestamp()
	if dt == nil || len(obj.GetFinalizers()) == 0 || timeout <= 0 {
		return "", nil
	}
	// The manager's own clock since it first saw the deletion (recovery.go),
	// never its wall clock against the API server's deletionTimestamp.
	age := chaosSeen.age(obj.GetUID(), now)
	kind := fmt.Sprintf("%T", obj)
	kind = kind[strings.LastIndex(kind, ".")+1:]
	switch {
	case age >= 2*timeout:
		var keep []string
		for _, f := range obj.GetFinalizers() {
			if !strings.HasPrefix(f, "chaos-mesh/") {
				keep = append(keep, f)
			}
		}
		if len(keep) == len(obj.GetFinalizers()) {
			return "", nil
		}
		base := obj.DeepCopyObject().(client.Object)
		obj.SetFinalizers(keep)
		if err := c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return "", client.IgnoreNotFound(err)
		}
		note := fmt.Sprintf("%s %s still terminating %s after the manager saw it deleted: Chaos Mesh's finalizer removed by the operator; its recovery may not have run, check the targeted pods", kind, obj.GetName(), age.Round(time.Second))
		chaosSeen.markForced(controllerUID(obj), obj.GetName(), note)
		return note, nil
	case age >= timeout && obj.GetAnnotations()[chaosMeshCleanFinalizer] != chaosMeshCleanFinalizerYes:
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, chaosMeshCleanFinalizer, chaosMeshCleanFinalizerYes)
		if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return "", client.IgnoreNotFound(err)
		}
		return fmt.Sprintf("%s %s still terminating %s after the manager saw it deleted (Chaos Mesh could not recover it: chaos-daemon unreachable?); annotated %s=%s", kind, obj.GetName(), age.Round(time.Second), chaosMeshCleanFinalizer, chaosMeshCleanFinalizerYes), nil
	}
	return "", nil
}

// ChaosMeshInstalled reports whether the API server serves PodChaos and
// NetworkChaos.
func ChaosMeshInstalled(m meta.RESTMapper) bool {
	for _, k := range []string{"PodChaos", "NetworkChaos"} {
		if _, err := m.RESTMapping(schema.GroupKind{Group: chaosv1alpha1.SchemeGroupVersion.Group, Kind: k}, chaosv1alpha1.SchemeGroupVersion.Version); err != nil {
			return false
		}
	}
	return true
}

// emptyChaos returns an empty object of the fault's kind, for Get and Delete.
func emptyChaos(exp *v1alpha1.Experiment, i int) chaosObject {
	f := exp.Spec.Faults[i]
	om := metav1.ObjectMeta{Name: ChaosName(exp.Name, f.Name), Namespace: exp.Namespace}
	if f.NetworkChaos != nil {
		return &chaosv1alpha1.NetworkChaos{ObjectMeta: om}
	}
	return &chaosv1alpha1.PodChaos{ObjectMeta: om}
}

// chaosState reads Chaos Mesh's view of a chaos object: whether all targets
// are injected or recovered, and the targets it recorded.
type chaosState struct {
	Exists, Injected, Recovered bool
	Targets                     []string
	// Failure is Chaos Mesh's latest failed injection, with its target
	// ("default/ledger-x: unable to set tcs: …"), empty when none.
	Failure string
}

// readChaos gets the chaos object of fault i (uncached, so it works when the
// CRDs appear after the manager started); one of that name that is not
// exp's is a *nameConflict.
func readChaos(ctx context.Context, c client.Reader, exp *v1alpha1.Experiment, i int) (chaosState, error) {
	obj := emptyChaos(exp, i)
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) {
			return chaosState{}, nil
		}
		if meta.IsNoMatchError(err) {
			return chaosState{}, ErrChaosMeshMissing
		}
		return chaosState{}, err
	}
	if !ownedBy(obj, exp) {
		return chaosState{}, conflictOf(obj)
	}
	return stateOf(obj), nil
}

// stateOf reads Chaos Mesh's status of an existing chaos object.
func stateOf(obj chaosObject) chaosState {
	st := chaosState{Exists: true}
	for _, c := range obj.GetStatus().Conditions {
		on := c.Status == corev1.ConditionTrue
		switch c.Type {
		case chaosv1alpha1.ConditionAllInjected:
			st.Injected = on
		case chaosv1alpha1.ConditionAllRecovered:
			st.Recovered = on
		}
	}
	var failedAt time.Time
	for _, r := range obj.GetStatus().Experiment.Records {
		if r == nil {
			continue
		}
		id := strings.Split(r.Id, "/") // namespace/pod[/container], or a bare ID
		st.Targets = append(st.Targets, id[min(1, len(id)-1)])
		for _, ev := range r.Events {
			if ev.Type == chaosv1alpha1.TypeFailed && ev.Operation == chaosv1alpha1.Apply && ev.Timestamp != nil && !ev.Timestamp.Time.Before(failedAt) {
				failedAt, st.Failure = ev.Timestamp.Time, r.Id+": "+ev.Message
			}
		}
	}
	return st
}

// createChaos creates the chaos object of fault i; an existing one that
// is exp's (a restarted manager) counts as created, another's is a
// *nameConflict.
func createChaos(ctx context.Context, c client.Client, rd client.Reader, exp *v1alpha1.Experiment, i int) error {
	obj, err := BuildChaos(ctx, exp, i)
	if err != nil {
		return err
	}
	err = createOwned(ctx, c, rd, exp, obj)
	if meta.IsNoMatchError(err) {
		return ErrChaosMeshMissing
	}
	return err
}

// deleteChaos deletes the chaos object of fault i, if any and if exp's.
func deleteChaos(ctx context.Context, c client.Client, rd client.Reader, exp *v1alpha1.Experiment, i int) error {
	return deleteOwned(ctx, c, rd, exp, emptyChaos(exp, i))
}

// deleteAllChaos deletes every chaos object labelled with the experiment
// and controlled by it (by UID; others with its label are left alone),
// whatever the spec says now (faults may have been renamed), and reports how
// many are left (still terminating behind Chaos Mesh's finalizers).
func deleteAllChaos(ctx context.Context, c client.Client, r client.Reader, exp *v1alpha1.Experiment) (int, error) {
	left, _, err := deleteAllChaosForcing(ctx, c, r, exp, time.Time{}, 0)
	return left, err
}

// deleteAllChaosForcing is deleteAllChaos that also applies forceChaosGone
// (with now and timeout; timeout 0 never forces) to the objects already
// terminating, and returns the notes of what it forced.
func deleteAllChaosForcing(ctx context.Context, c client.Client, r client.Reader, exp *v1alpha1.Experiment, now time.Time, timeout time.Duration) (int, []string, error) {
	var notes []string
	var errs []error
	left := 0
	sel := client.MatchingLabels{LabelExperiment: exp.Name}
	ns := client.InNamespace(exp.Namespace)
	lists := []client.ObjectList{&chaosv1alpha1.PodChaosList{}, &chaosv1alpha1.NetworkChaosList{}}
	for _, l := range lists {
		if err := r.List(ctx, l, ns, sel); err != nil {
			if meta.IsNoMatchError(err) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		_ = meta.EachListItem(l, func(o runtime.Object) error {
			obj := o.(client.Object)
			if !ownedBy(obj, exp) {
				return nil
			}
			left++
			if obj.GetDeletionTimestamp() == nil {
				uid := obj.GetUID()
				if err := c.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					errs = append(errs, err)
				}
			} else if note, err := forceChaosGone(ctx, c, obj, now, timeout); err != nil {
				errs = append(errs, err)
			} else if note != "" {
				notes = append(notes, note)
			}
			return nil
		})
	}
	return left, notes, errors.Join(errs...)
}
