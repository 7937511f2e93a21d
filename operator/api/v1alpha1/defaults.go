package v1alpha1

import (
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of the spec, the same as the +kubebuilder:default markers (the
// envtest suite checks that the API server applies exactly these).
const (
	DefaultSteadyState        = 10 * time.Second
	DefaultOrdersReplicas     = int32(2)
	DefaultCache              = CacheRacy
	DefaultIdempotency        = IdempotencyNone
	DefaultGatewayMode        = GatewayLeaky
	DefaultGatewayTimeout     = 500 * time.Millisecond
	DefaultGatewayRetries     = int32(2)
	DefaultAdminPort          = int32(9090)
	DefaultTargetPort         = int32(8080)
	DefaultMetricsPath        = "/metrics"
	DefaultGoroutinesPath     = "/debug/pprof/goroutine"
	DefaultProcessReplicas    = int32(1)
	DefaultRequestMethod      = "GET"
	DefaultRequestPath        = "/"
	DefaultLoadRate           = int32(100)
	DefaultDuplicateRatio     = "0.1"
	DefaultDuplicateAfter     = time.Duration(0) // the zero value: nothing to fill
	DefaultMaxErrorRatio      = "0.01"
	DefaultMaxGoroutineGrowth = "2.0"
	DefaultAbortFor           = 10 * time.Second
	defaultNetworkDirection   = chaosv1alpha1.To
	defaultPartitionBehavior  = chaosv1alpha1.DropPartitionBehavior
	defaultZeroCount          = int64(0)
	defaultZeroRestarts       = int32(0)
)

// Default applies SetDefaults to the experiment's spec.
func (e *Experiment) Default() { SetDefaults(&e.Spec) }

// SetDefaults fills unset fields of spec with the defaults the API server
// applies from the CRD's schema, so the local runner (which has no API
// server) sees the same experiment. A zero value counts as unset: Load
// rejects an explicit zero where the API server would, so the two agree on
// every file. Chaos Mesh fields get only the defaults in Chaos Mesh's CRD
// schema (networkChaos direction and partitionBehavior); the rest of Chaos
// Mesh's defaulting happens in its own webhook in a cluster.
func SetDefaults(spec *ExperimentSpec) {
	if spec.SteadyState.Duration == 0 {
		spec.SteadyState = metav1.Duration{Duration: DefaultSteadyState}
	}
	if spec.SteadyStateGate == "" {
		spec.SteadyStateGate = GateEnforce
	}
	if v := spec.Victim; v != nil {
		if v.Orders.Replicas == 0 {
			v.Orders.Replicas = DefaultOrdersReplicas
		}
		if v.Orders.Cache == "" {
			v.Orders.Cache = DefaultCache
		}
		if v.Ledger.Idempotency == "" {
			v.Ledger.Idempotency = DefaultIdempotency
		}
		if v.Gateway.Mode == "" {
			v.Gateway.Mode = DefaultGatewayMode
		}
		if v.Gateway.Timeout.Duration == 0 {
			v.Gateway.Timeout = metav1.Duration{Duration: DefaultGatewayTimeout}
		}
		if v.Gateway.Retries == nil {
			r := DefaultGatewayRetries
			v.Gateway.Retries = &r
		}
	}
	if t := spec.Target; t != nil {
		defaultTarget(t)
	}
	if r := spec.Load.Request; r != nil {
		if r.Method == "" {
			r.Method = DefaultRequestMethod
		}
		if r.Path == "" {
			r.Path = DefaultRequestPath
		}
	}
	if spec.Load.Rate == 0 {
		spec.Load.Rate = DefaultLoadRate
	}
	if spec.Load.DuplicateRatio == "" {
		spec.Load.DuplicateRatio = DefaultDuplicateRatio
	}
	h := &spec.Hypothesis
	if h.MaxErrorRatio == "" {
		h.MaxErrorRatio = DefaultMaxErrorRatio
	}
	if h.MaxGoroutineGrowth == "" {
		h.MaxGoroutineGrowth = DefaultMaxGoroutineGrowth
	}
	if h.MaxDuplicateCharges == nil {
		n := defaultZeroCount
		h.MaxDuplicateCharges = &n
	}
	if h.MaxLeakedGoroutines == nil {
		n := defaultZeroCount
		h.MaxLeakedGoroutines = &n
	}
	if h.MaxRestarts == nil {
		n := defaultZeroRestarts
		h.MaxRestarts = &n
	}
	if a := spec.Abort; a != nil && a.For.Duration == 0 {
		a.For = metav1.Duration{Duration: DefaultAbortFor}
	}
	for i := range spec.Faults {
		if nc := spec.Faults[i].NetworkChaos; nc != nil {
			if nc.Direction == "" {
				nc.Direction = defaultNetworkDirection
			}
			if nc.PartitionBehavior == "" {
				nc.PartitionBehavior = defaultPartitionBehavior
			}
		}
	}
}

func defaultTarget(t *TargetSpec) {
	if t.AdminPort == 0 {
		t.AdminPort = DefaultAdminPort
	}
	if t.Port == 0 {
		t.Port = DefaultTargetPort
	}
	if t.MetricsPath == "" {
		t.MetricsPath = DefaultMetricsPath
	}
	if t.GoroutinesPath == "" {
		t.GoroutinesPath = DefaultGoroutinesPath
	}
	if p := t.Process; p != nil && p.Replicas == 0 {
		p.Replicas = DefaultProcessReplicas
	}
}
