package kube

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
)

// TestOwnServiceOnCluster: a cluster refuses spec.target.process (it runs
// local processes) before creating anything, and the load Job sends
// spec.load.request.
func TestOwnServiceOnCluster(t *testing.T) {
	t.Run("target.process refused", func(t *testing.T) {
		exp := targetExperiment()
		exp.Spec.Target.Process = &v1alpha1.ProcessSpec{Command: []string{"./shop"}, Replicas: 1}
		c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).Build()
		b := &clusterBackend{r: &ExperimentReconciler{Client: c}, d: &drill{exp: exp, now: time.Now()}}
		ready, detail, err := b.EnsureVictim(context.Background())
		if ready || !drive.IsPermanent(err) || !strings.Contains(detail, "spec.target.process") {
			t.Errorf("EnsureVictim: ready %v, detail %q, err %v; want a permanent refusal naming spec.target.process", ready, detail, err)
		}
	})
	t.Run("load request", func(t *testing.T) {
		exp := targetExperiment()
		exp.Spec.Load.Request = &v1alpha1.LoadRequest{Method: "POST", Path: "/v3/kv/put", Body: `{"key":"{{.ID}}"}`}
		args := loadJob(exp, "victim:dev", "http://shop:8080").Spec.Template.Spec.Containers[0].Args
		want := `--request={"method":"POST","path":"/v3/kv/put","body":"{\"key\":\"{{.ID}}\"}"}`
		if !slices.Contains(args, want) || !slices.Contains(args, "--target=http://shop:8080") {
			t.Errorf("load Job args %q lack %s", args, want)
		}
	})
}
