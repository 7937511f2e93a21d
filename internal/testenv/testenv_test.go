package testenv_test

import (
	"context"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/internal/testenv"
)

// TestStart checks that the API server starts with every CRD established.
func TestStart(t *testing.T) {
	_, c := testenv.Start(t)
	for _, name := range []string{"experiments.cascadelab.dev", "podchaos.chaos-mesh.org", "networkchaos.chaos-mesh.org"} {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, &crd); err != nil {
			t.Errorf("CRD %s: %v", name, err)
		}
	}
}
