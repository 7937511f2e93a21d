package kube

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
)

// Ownership. Every object the manager creates has a controller
// ownerReference to its Experiment and the label
// app.kubernetes.io/managed-by=cascadelab. The manager reads, writes and
// deletes by name, and a namespace it drills is shared with the teams that
// opted it in: before it changes or deletes an object it checks that the
// object's controller is the Experiment (by UID), and leaves anything else
// alone. A name the drill would create that another object holds fails
// the drill (NameConflict) before anything is created.

// ReasonNameConflict: a name the drill would create is taken by an object
// that is not this Experiment's (Ready=False). The object is named; the
// manager adopted, changed and deleted nothing of it.
const ReasonNameConflict = "NameConflict"

// nameConflict is an object, named as one the drill creates, whose
// controller is not the drill's Experiment.
type nameConflict struct {
	kind, name string
	// owner describes its controller ("no controller", "Experiment shop
	// (another UID)", "Deployment web").
	owner string
}

func (c *nameConflict) Error() string {
	return fmt.Sprintf("%s/%s already exists and is not this Experiment's (%s); the manager leaves it alone", c.kind, c.name, c.owner)
}

// ownedBy reports whether exp is obj's controller (by UID: a deleted and
// recreated Experiment of the same name owns nothing of the old one's).
func ownedBy(obj metav1.Object, exp *v1alpha1.Experiment) bool {
	ref := metav1.GetControllerOfNoCopy(obj)
	return ref != nil && exp.UID != "" && ref.UID == exp.UID
}

// kindOf is obj's kind from its Go type (*v1.Deployment → Deployment).
func kindOf(obj client.Object) string {
	k := fmt.Sprintf("%T", obj)
	return k[strings.LastIndex(k, ".")+1:]
}

// conflictOf describes obj, held under a name the drill wants.
func conflictOf(obj client.Object) *nameConflict {
	owner := "no controller ownerReference"
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		owner = fmt.Sprintf("controlled by %s %s", ref.Kind, ref.Name)
		if ref.Kind == "Experiment" {
			owner += " (another UID)"
		}
	}
	return &nameConflict{kind: kindOf(obj), name: obj.GetName(), owner: owner}
}

// checkOwned reads obj by name (into obj) and says whether it is missing
// (false, nil), exp's (true, nil) or another's (false, *nameConflict).
// A kind the API server does not serve (Chaos Mesh absent) is missing.
func checkOwned(ctx context.Context, rd client.Reader, exp *v1alpha1.Experiment, obj client.Object) (bool, error) {
	err := rd.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	switch {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return false, nil
	case err != nil:
		return false, err
	case !ownedBy(obj, exp):
		return false, conflictOf(obj)
	}
	return true, nil
}

// plannedObjects are empty objects (kind, namespace, name) of everything a
// drill of exp may create: the victim's PVC, Deployments and Services, the
// load Job, one chaos object per fault, the report ConfigMap.
func plannedObjects(exp *v1alpha1.Experiment, storage string) []client.Object {
	om := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: exp.Namespace, Name: name} }
	var objs []client.Object
	if exp.Spec.Victim != nil {
		for _, o := range victimObjects(exp, "", storage) {
			objs = append(objs, emptyLike(o))
		}
	}
	if exp.Spec.Victim != nil || (exp.Spec.Target != nil && exp.Spec.Target.LoadURL != "") {
		objs = append(objs, &batchv1.Job{ObjectMeta: om(ObjectName(exp.Name, "load"))})
	}
	for i := range exp.Spec.Faults {
		objs = append(objs, emptyChaos(exp, i))
	}
	return append(objs, &corev1.ConfigMap{ObjectMeta: om(ReportName(exp.Name))})
}

// emptyLike is a new, empty object of obj's type with its namespace and
// name.
func emptyLike(obj client.Object) client.Object {
	out := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(client.Object)
	out.SetNamespace(obj.GetNamespace())
	out.SetName(obj.GetName())
	return out
}

// checkNames reads every name the drill may create, before it creates any:
// a name held by an object that is not exp's is a *nameConflict (all of
// them, joined). Objects exp already owns (a restarted manager) are fine.
func checkNames(ctx context.Context, rd client.Reader, exp *v1alpha1.Experiment, storage string) error {
	var conflicts []error
	for _, obj := range plannedObjects(exp, storage) {
		_, err := checkOwned(ctx, rd, exp, obj)
		var nc *nameConflict
		switch {
		case errors.As(err, &nc):
			conflicts = append(conflicts, nc)
		case err != nil:
			return fmt.Errorf("checking %s/%s is free: %w", kindOf(obj), obj.GetName(), err)
		}
	}
	return errors.Join(conflicts...)
}

// createOwned creates obj (which carries exp's controller ownerReference).
// An existing object of that name counts as created only when exp owns it
// (a restarted manager, a lost answer); another's is a *nameConflict.
func createOwned(ctx context.Context, c client.Client, rd client.Reader, exp *v1alpha1.Experiment, obj client.Object) error {
	err := c.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := emptyLike(obj)
	owned, err := checkOwned(ctx, rd, exp, existing)
	switch {
	case err != nil:
		return err
	case !owned: // gone again since: try at the next step
		return fmt.Errorf("%s/%s: already exists, then not found", kindOf(obj), obj.GetName())
	}
	return nil
}

// deleteOwned deletes the object of obj's kind and name when exp is its
// controller, and only that object (a UID precondition: not one that
// replaced it since it was read). Another's object, or none, is left as
// it is, without error.
func deleteOwned(ctx context.Context, c client.Client, rd client.Reader, exp *v1alpha1.Experiment, obj client.Object, opts ...client.DeleteOption) error {
	owned, err := checkOwned(ctx, rd, exp, obj)
	var nc *nameConflict
	switch {
	case errors.As(err, &nc):
		return nil
	case err != nil:
		return err
	case !owned || obj.GetDeletionTimestamp() != nil:
		return nil
	}
	uid := obj.GetUID()
	err = c.Delete(ctx, obj, append(opts, client.Preconditions{UID: &uid})...)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || meta.IsNoMatchError(err) {
		return nil // gone, or replaced by another object: not ours to delete
	}
	return err
}

// failConflict ends the drill on a name conflict: phase Failed, reason
// NameConflict naming the object, every fault recovered and everything the
// drill created (its own objects only) deleted by the following steps.
// It returns err as Permanent, for the driver.
func (b *clusterBackend) failConflict(err error, created bool) error {
	msg := "name conflict: " + err.Error()
	if created {
		msg += "; the objects the drill had created are deleted"
	} else {
		msg += "; nothing was created"
	}
	d := b.d
	if d.failReason == "" {
		d.failReason, d.failMsg = ReasonNameConflict, msg
		d.event(corev1.EventTypeWarning, ReasonNameConflict, "%s", msg)
	}
	if d.run != nil {
		d.run.drv.Fail(d.now, msg)
	}
	return drive.Permanent(err)
}

// ensureNames runs checkNames once per backend (a drill's start, or a
// restarted manager's first step), before the first create.
func (b *clusterBackend) ensureNames(ctx context.Context) error {
	if b.namesChecked {
		return nil
	}
	if err := checkNames(ctx, b.r.reader(), b.exp(), b.r.LedgerStorage); err != nil {
		var nc *nameConflict
		if errors.As(err, &nc) {
			return b.failConflict(err, false)
		}
		return err
	}
	b.namesChecked = true
	return nil
}

// isConflict reports whether err is (or wraps) a *nameConflict.
func isConflict(err error) bool {
	var nc *nameConflict
	return errors.As(err, &nc)
}
