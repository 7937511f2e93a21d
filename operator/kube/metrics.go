package kube

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// Operator metrics, registered on controller-runtime's metrics.Registry and
// served on the manager's metrics endpoint.
var (
	// ExperimentsGauge counts experiments by phase and verdict.
	ExperimentsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cascadelab_experiments",
		Help: "Experiments by phase and verdict.",
	}, []string{"phase", "verdict"})
	// FaultsActive is 1 while a fault is injected (Grafana annotations).
	FaultsActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cascadelab_faults_active",
		Help: "1 while a fault of an experiment is injected.",
	}, []string{"namespace", "experiment", "fault", "kind"})
	// ReconcileErrors counts reconciles that returned an error.
	ReconcileErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cascadelab_reconcile_errors_total",
		Help: "Reconciles of experiments that returned an error.",
	})
)

func init() {
	metrics.Registry.MustRegister(ExperimentsGauge, FaultsActive, ReconcileErrors)
}

// phaseBook remembers each experiment's phase and verdict so that the
// experiments gauge can be recomputed when one changes or goes away.
type phaseBook struct {
	mu sync.Mutex
	m  map[types.NamespacedName][2]string
}

func (b *phaseBook) set(key types.NamespacedName, phase v1alpha1.Phase, verdict v1alpha1.Verdict, gone bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[types.NamespacedName][2]string{}
	}
	if gone {
		delete(b.m, key)
	} else {
		b.m[key] = [2]string{string(phase), string(verdict)}
	}
	ExperimentsGauge.Reset()
	for _, pv := range b.m {
		ExperimentsGauge.WithLabelValues(pv[0], pv[1]).Inc()
	}
}

// setFaultActive sets or clears the faults-active series of one fault.
func setFaultActive(ns, exp, fault, kind string, active bool) {
	if active {
		FaultsActive.WithLabelValues(ns, exp, fault, kind).Set(1)
	} else {
		FaultsActive.DeleteLabelValues(ns, exp, fault, kind)
	}
}
