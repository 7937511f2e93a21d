package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
		Labels:          map[string]string{LabelExperiment: exp.Name, LabelManagedBy: ManagerName, "cascadelab.dev/fault": f.Name},
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
	if err != nil {
		return nil, fmt.Errorf("fault %q rejected by Chaos Mesh validation: %w", f.Name, err)
	}
	return obj, nil
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
}

// readChaos gets the chaos object of fault i (uncached, so it works when the
// CRDs appear after the manager started).
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
	for _, r := range obj.GetStatus().Experiment.Records {
		if r != nil {
			id := strings.Split(r.Id, "/")
			if len(id) >= 2 {
				st.Targets = append(st.Targets, id[1])
			} else {
				st.Targets = append(st.Targets, r.Id)
			}
		}
	}
	return st, nil
}

// createChaos creates the chaos object of fault i; an existing one (a
// restarted manager) counts as created.
func createChaos(ctx context.Context, c client.Client, exp *v1alpha1.Experiment, i int) error {
	obj, err := BuildChaos(ctx, exp, i)
	if err != nil {
		return err
	}
	err = c.Create(ctx, obj)
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case meta.IsNoMatchError(err):
		return ErrChaosMeshMissing
	}
	return err
}

// deleteChaos deletes the chaos object of fault i, if any.
func deleteChaos(ctx context.Context, c client.Client, exp *v1alpha1.Experiment, i int) error {
	err := c.Delete(ctx, emptyChaos(exp, i))
	if err == nil || apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	return err
}

// deleteAllChaos deletes every chaos object labelled with the experiment,
// whatever the spec says now (faults may have been renamed), and reports how
// many are left (still terminating behind Chaos Mesh's finalizers).
func deleteAllChaos(ctx context.Context, c client.Client, r client.Reader, exp *v1alpha1.Experiment) (int, error) {
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
			left++
			if obj.GetDeletionTimestamp() == nil {
				if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
			}
			return nil
		})
	}
	return left, errors.Join(errs...)
}
