package kube

import "time"

// SetReconcileHook makes r tell f how long each Reconcile took.
func SetReconcileHook(r *ExperimentReconciler, f func(time.Duration)) { r.onReconcile = f }
