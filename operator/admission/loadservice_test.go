package admission_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/cascadelab/cascadelab/operator/admission"
)

// TestLoadServiceChanged: what ReadLoadService saw when the load started
// tells a Service turned into an ExternalName, replaced under its name or
// pointed at other pods from one left alone.
func TestLoadServiceChanged(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	svc := func(uid string, mutate func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "shop", UID: types.UID(uid)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.0.0.7", Selector: map[string]string{"app": "shop"}}}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	read := func(s *corev1.Service) (admission.LoadServiceState, error) {
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(s).Build()
		return admission.ReadLoadService(context.Background(), c, "http://shop:8080", "team", "")
	}
	start, err := read(svc("1", nil))
	if err != nil {
		t.Fatal(err)
	}
	if d := start.Changed(start); d != "" {
		t.Errorf("an unchanged Service: %q", d)
	}
	for name, c := range map[string]struct {
		s    *corev1.Service
		want string
	}{
		"ExternalName": {svc("1", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "elsewhere.example"}
		}), "now of type ExternalName (an alias of elsewhere.example)"},
		"Replaced":   {svc("2", nil), "was replaced"},
		"Reselected": {svc("1", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "ledger"} }), "selects other pods"},
	} {
		t.Run(name, func(t *testing.T) {
			now, err := read(c.s)
			if name == "ExternalName" && (err == nil || !strings.Contains(err.Error(), "ExternalName")) {
				t.Errorf("ReadLoadService: %v, want the ExternalName refused", err)
			}
			if d := start.Changed(now); !strings.Contains(d, c.want) {
				t.Errorf("Changed: %q, want %q", d, c.want)
			}
		})
	}
}
