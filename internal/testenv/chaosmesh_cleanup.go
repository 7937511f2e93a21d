package testenv

import (
	"context"
	"errors"
	"fmt"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ChaosKinds lists the chaos objects DeleteAllChaos removes: the kinds Start
// installs.
func ChaosKinds() []client.ObjectList {
	return []client.ObjectList{
		&chaosv1alpha1.PodChaosList{}, &chaosv1alpha1.NetworkChaosList{}, &chaosv1alpha1.PodNetworkChaosList{},
	}
}

// ForceDeleteChaos deletes obj and, when it is still there after grace (its
// finalizers were not cleared by the controller, e.g. a NetworkChaos waiting
// for chaos-daemon, or no controller runs), clears its finalizers; it then
// waits until the object is gone. A missing object is not an error.
func ForceDeleteChaos(ctx context.Context, c client.Client, obj client.Object, grace time.Duration) error {
	key := client.ObjectKeyFromObject(obj)
	if err := c.Delete(ctx, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("delete %T %s: %w", obj, key, err)
	}
	deadline := time.Now().Add(grace)
	for {
		err := c.Get(ctx, key, obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %T %s: %w", obj, key, err)
		}
		if time.Now().After(deadline) && len(obj.GetFinalizers()) > 0 {
			patch := []byte(`{"metadata":{"finalizers":null}}`)
			if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("clear finalizers of %T %s: %w", obj, key, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%T %s not gone (finalizers %v): %w", obj, key, obj.GetFinalizers(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DeleteAllChaos deletes every chaos object of ChaosKinds in namespace (all
// namespaces when it is ""), with ForceDeleteChaos, and checks none is left.
// envtest has no garbage collector or namespace controller: tests must clean
// up their chaos objects themselves.
func DeleteAllChaos(ctx context.Context, c client.Client, namespace string, grace time.Duration) error {
	var errs []error
	for _, list := range ChaosKinds() {
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			errs = append(errs, err)
			continue
		}
		items, err := metaItems(list)
		if err != nil {
			return err
		}
		for _, obj := range items {
			if err := ForceDeleteChaos(ctx, c, obj, grace); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n, err := CountChaos(ctx, c, namespace)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%d chaos objects left in namespace %q", n, namespace)
	}
	return nil
}

// CountChaos returns how many chaos objects of ChaosKinds are in namespace
// (all namespaces when it is "").
func CountChaos(ctx context.Context, c client.Client, namespace string) (int, error) {
	n := 0
	for _, list := range ChaosKinds() {
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return 0, err
		}
		items, err := metaItems(list)
		if err != nil {
			return 0, err
		}
		n += len(items)
	}
	return n, nil
}

func metaItems(list client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch l := list.(type) {
	case *chaosv1alpha1.PodChaosList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *chaosv1alpha1.NetworkChaosList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *chaosv1alpha1.PodNetworkChaosList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		return nil, fmt.Errorf("unsupported chaos list %T", list)
	}
	return out, nil
}
