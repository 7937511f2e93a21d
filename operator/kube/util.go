package kube

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

type (
	typesUID     = types.UID
	clientObject = client.Object
)

func ctrlKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// isValidation reports whether err came from Chaos Mesh's own validation.
func isValidation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "rejected by Chaos Mesh validation")
}

// keyOf is the key of obj.
func keyOf(obj client.Object) client.ObjectKey { return client.ObjectKeyFromObject(obj) }

// mapNoMatch turns "no kind registered" into ErrChaosMeshMissing.
func mapNoMatch(err error) error {
	if meta.IsNoMatchError(err) {
		return ErrChaosMeshMissing
	}
	return err
}

func (r *ExperimentReconciler) sampleInterval() time.Duration {
	if r.SampleInterval > 0 {
		return r.SampleInterval
	}
	return 2 * time.Second
}

func (r *ExperimentReconciler) reportInterval() time.Duration {
	if r.ReportInterval > 0 {
		return r.ReportInterval
	}
	return 10 * time.Second
}

func (r *ExperimentReconciler) victimTimeout() time.Duration {
	if r.VictimTimeout > 0 {
		return r.VictimTimeout
	}
	return 3 * time.Minute
}
