package kube

import (
	"context"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/observe"
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

// createAll creates objects, treating existing ones as created (a resumed drill).
func (d *drill) createAll(ctx context.Context, objs []client.Object) error {
	for _, o := range objs {
		if err := d.r.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
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

func (r *ExperimentReconciler) scraper() *observe.Scraper {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Scraper == nil {
		r.Scraper = observe.NewScraper(observe.WithConcurrency(16), observe.WithTimeout(time.Second),
			observe.WithLeakEvery(3), observe.WithLeakRoles(RoleGateway, RoleOrders, RoleLedger, "target"))
	}
	return r.Scraper
}
