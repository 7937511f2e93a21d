package kube

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
)

// TestLoadServiceRechecked: the loadURL's Service is read again each time
// the load is ensured; one turned into an ExternalName, replaced, or
// pointed at other pods after the load Job was created ends the drill
// (a Permanent error naming the change), one left alone does not.
func TestLoadServiceRechecked(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		change func(*corev1.Service)
		want   string
	}{
		"Unchanged": {func(*corev1.Service) {}, ""},
		"ExternalName": {func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "elsewhere.example"}
		}, "is of type ExternalName"},
		"Replaced":   {func(s *corev1.Service) { s.UID = "uid-2" }, "was replaced"},
		"Reselected": {func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "other"} }, "selects other pods"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "shop", UID: "uid-1"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": "shop"}}}
			cl := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(svc.DeepCopy()).Build()
			exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "drill"},
				Spec: v1alpha1.ExperimentSpec{Target: &v1alpha1.TargetSpec{LoadURL: "http://shop:8080"}}}
			b := &clusterBackend{r: &ExperimentReconciler{Client: cl, APIReader: cl}, d: &drill{exp: exp}}
			if err := b.checkLoadService(ctx); err != nil {
				t.Fatalf("at the load Job's creation: %v", err)
			}
			now := svc.DeepCopy()
			c.change(now)
			if now.UID != svc.UID { // replaced: deleted and created again
				if err := cl.Delete(ctx, svc.DeepCopy()); err != nil {
					t.Fatal(err)
				}
				if err := cl.Create(ctx, now); err != nil {
					t.Fatal(err)
				}
			} else {
				cur := &corev1.Service{}
				if err := cl.Get(ctx, client.ObjectKeyFromObject(svc), cur); err != nil {
					t.Fatal(err)
				}
				cur.Spec = now.Spec
				if err := cl.Update(ctx, cur); err != nil {
					t.Fatal(err)
				}
			}
			err := b.checkLoadService(ctx)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("an unchanged Service: %v", err)
			case c.want != "" && (!drive.IsPermanent(err) || !strings.Contains(err.Error(), c.want)):
				t.Errorf("while the load runs: %v; want a Permanent error naming %q", err, c.want)
			}
		})
	}
}
