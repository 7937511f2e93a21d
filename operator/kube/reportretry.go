package kube

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// ReportRetry is how long after a failed write of a drill's final report
// the manager tries again. The engine that made the report is forgotten
// once the drill is terminal, so the report is kept until it is written.
const ReportRetry = 2 * time.Second

// pendingReports holds the final reports whose write failed, by drill.
var pendingReports = &reportBook{}

type reportBook struct {
	mu   sync.Mutex
	data map[types.UID][]byte
}

func (b *reportBook) put(uid types.UID, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil {
		b.data = map[types.UID][]byte{}
	}
	if len(b.data) >= maxBookedDrills {
		for k := range b.data { // bounded: drop one
			delete(b.data, k)
			break
		}
	}
	b.data[uid] = data
}

func (b *reportBook) get(uid types.UID) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.data[uid]
	return data, ok
}

func (b *reportBook) drop(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.data, uid)
}

// storeReport writes report.json into the drill's report ConfigMap. A
// failed write of the final report (the drill terminal) is kept for
// retryPendingReport, not only logged.
func (d *drill) storeReport(ctx context.Context, data []byte) error {
	err := writeReportConfigMap(ctx, d.r, d.exp, data)
	switch {
	case err == nil:
		pendingReports.drop(d.exp.UID)
	case d.exp.Status.Phase.Terminal():
		pendingReports.put(d.exp.UID, data)
	}
	return err
}

func writeReportConfigMap(ctx context.Context, r *ExperimentReconciler, exp *v1alpha1.Experiment, data []byte) error {
	return writeOwnedConfigMap(ctx, r.Client, r.reader(), exp, &corev1.ConfigMap{
		ObjectMeta: objMeta(exp, ReportName(exp.Name), "report"),
		Data:       map[string]string{ReportKey: string(data)},
	})
}

// retryPendingReport writes the final report of a terminal drill whose
// last write failed: pending is false when there is none; otherwise the
// result requeues after ReportRetry until the write succeeds, and the
// status's reportRef is set then. Reconcile calls it for a terminal
// Experiment before its cleanup.
func (r *ExperimentReconciler) retryPendingReport(ctx context.Context, exp *v1alpha1.Experiment) (res ctrl.Result, pending bool) {
	data, ok := pendingReports.get(exp.UID)
	if !ok {
		return ctrl.Result{}, false
	}
	lg := log.FromContext(ctx)
	if err := writeReportConfigMap(ctx, r, exp, data); err != nil {
		lg.Error(err, "writing the final report; retrying", "requeueAfter", ReportRetry)
		ReconcileErrors.Inc()
		return ctrl.Result{RequeueAfter: ReportRetry}, true
	}
	pendingReports.drop(exp.UID)
	if exp.Status.ReportRef == nil {
		base := exp.DeepCopy()
		exp.Status.ReportRef = &v1alpha1.ReportRef{ConfigMap: ReportName(exp.Name)}
		if err := r.Status().Patch(ctx, exp, client.MergeFrom(base)); err != nil {
			lg.Error(err, "patching reportRef; retrying", "requeueAfter", ReportRetry)
			return ctrl.Result{RequeueAfter: ReportRetry}, true
		}
	}
	return ctrl.Result{}, false
}
