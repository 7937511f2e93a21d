package kube

import (
	"reflect"

	crevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// DefaultMaxConcurrentReconciles is the default number of reconcile workers.
const DefaultMaxConcurrentReconciles = 4

func (r *ExperimentReconciler) workers() int {
	if r.MaxConcurrentReconciles > 0 {
		return r.MaxConcurrentReconciles
	}
	return DefaultMaxConcurrentReconciles
}

// observe starts rn's observer over scraper (the drill's first
// observation).
func (r *ExperimentReconciler) observe(rn *run, scraper *observe.Scraper) *observer {
	o := newObserver(scraper, r.sampleInterval())
	r.mu.Lock()
	rn.obs = o
	shutdown := r.shutdown
	r.mu.Unlock()
	if shutdown {
		o.stop() // a reconcile finishing as the manager stops: never starts
	}
	return o
}

// stopObservers stops every drill's observer (the manager is stopping;
// a restarted manager resumes each drill from its status).
func (r *ExperimentReconciler) stopObservers() {
	r.mu.Lock()
	r.shutdown = true
	var obs []*observer
	for _, rn := range r.runs {
		if rn.obs != nil {
			obs = append(obs, rn.obs)
		}
	}
	r.mu.Unlock()
	for _, o := range obs {
		o.stop()
	}
}

// notStatusOnly drops the update events of an Experiment whose spec and
// metadata did not change: the reconciler's own status patch, once a
// reconcile, would otherwise queue another reconcile of the same drill at
// once. The drill's schedule is RequeueAfter; its chaos objects, victim and
// load are watched.
var notStatusOnly = predicate.Funcs{UpdateFunc: func(e crevent.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	if o == nil || n == nil {
		return true
	}
	return o.GetGeneration() != n.GetGeneration() ||
		!reflect.DeepEqual(o.GetFinalizers(), n.GetFinalizers()) ||
		!reflect.DeepEqual(o.GetDeletionTimestamp(), n.GetDeletionTimestamp()) ||
		!reflect.DeepEqual(o.GetLabels(), n.GetLabels()) ||
		!reflect.DeepEqual(o.GetAnnotations(), n.GetAnnotations())
}}
