package v1alpha1

import (
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CacheStrategy is how the orders service caches orders. Racy is the incident's
// plain map; the others are the fixes from the seed's chapter 4.
// +kubebuilder:validation:Enum=racy;mutex;sharded;syncmap;serialized
type CacheStrategy string

// Cache strategies of the orders role.
const (
	CacheRacy       CacheStrategy = "racy"
	CacheMutex      CacheStrategy = "mutex"
	CacheSharded    CacheStrategy = "sharded"
	CacheSyncMap    CacheStrategy = "syncmap"
	CacheSerialized CacheStrategy = "serialized"
)

// Idempotency is how the ledger guards against charging an order twice.
// +kubebuilder:validation:Enum=none;cas
type Idempotency string

// Idempotency modes of the ledger role.
const (
	IdempotencyNone Idempotency = "none"
	IdempotencyCAS  Idempotency = "cas"
)

// GatewayMode is how the gateway waits for the orders service.
// +kubebuilder:validation:Enum=leaky;bounded
type GatewayMode string

// Gateway modes.
const (
	GatewayLeaky   GatewayMode = "leaky"
	GatewayBounded GatewayMode = "bounded"
)

// SteadyStateGate is what a steady state that already breaks the
// hypothesis does to the drill.
// +kubebuilder:validation:Enum=Enforce;Continue
type SteadyStateGate string

// Steady-state gates.
const (
	// GateEnforce ends the drill before any fault, Inconclusive.
	GateEnforce SteadyStateGate = "Enforce"
	// GateContinue runs the faults anyway and says so.
	GateContinue SteadyStateGate = "Continue"
)

// ExperimentSpec describes one drill: the victim, the load, the faults and
// the steady state that must hold.
// +kubebuilder:validation:XValidation:rule="has(self.victim) != has(self.target)",message="exactly one of victim or target must be set"
// +kubebuilder:validation:XValidation:rule="!self.duration.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || !has(self.steadyState) || !self.steadyState.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.steadyState) < duration(self.duration)",message="steadyState must be shorter than duration",fieldPath=".steadyState"
// +kubebuilder:validation:XValidation:rule="!has(self.faults) || !self.duration.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || self.faults.all(f, !f.after.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(f.after) < duration(self.duration))",message="a fault starts when the experiment is over: faults[].after must be less than spec.duration",fieldPath=".faults"
// +kubebuilder:validation:XValidation:rule="!has(self.faults) || !self.duration.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || self.faults.all(f, !f.after.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(f.after) + duration(has(f.podChaos) && has(f.podChaos.duration) ? f.podChaos.duration : (has(f.networkChaos) && has(f.networkChaos.duration) ? f.networkChaos.duration : '0s')) <= duration(self.duration))",message="a fault ends after the experiment: faults[].after plus the fault's duration must be at most spec.duration",fieldPath=".faults"
// +kubebuilder:validation:XValidation:rule="!has(self.faults) || !has(self.steadyState) || !self.steadyState.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || self.faults.all(f, !(f.after.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(f.after) < duration(self.steadyState)))",message="a fault starts inside the steady state: faults[].after must be at least spec.steadyState",messageExpression="'fault ' + self.faults.map(f, duration(f.after) < duration(self.steadyState), f.name)[0] + ' starts at ' + self.faults.map(f, duration(f.after) < duration(self.steadyState), f.after)[0] + ', inside the steady state (spec.steadyState ' + self.steadyState + '): faults[].after must be at least spec.steadyState'",fieldPath=".faults"
type ExperimentSpec struct {
	// Victim deploys the kit's own payment service. Omit it and set Target
	// to drill existing pods instead.
	// +optional
	Victim *VictimSpec `json:"victim,omitempty"`

	// Target selects existing pods, in the experiment's namespace, to observe
	// and load instead of deploying the victim.
	// +optional
	Target *TargetSpec `json:"target,omitempty"`

	// Load is the constant-rate traffic sent during the whole drill.
	// +optional
	// +kubebuilder:default={}
	Load LoadSpec `json:"load,omitempty"`

	// Duration is the length of the drill from the start of the load,
	// a Go duration string such as "60s". At most one hour.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self) > duration('0s') && duration(self) <= duration('1h'))",message="must be greater than 0s and at most 1h"
	Duration metav1.Duration `json:"duration"`

	// SteadyState is the baseline window before the first fault; the
	// baseline goroutine count is measured in it.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) > duration('0s')",message="must be greater than 0s"
	SteadyState metav1.Duration `json:"steadyState,omitempty"`

	// SteadyStateGate decides what a hypothesis already violated during the
	// steady state (a crash, the error ratio, duplicate charges, a leak
	// beyond the hypothesis's bounds, before the first fault) does. Enforce:
	// no fault is injected, and the drill ends Inconclusive with a
	// SteadyStateNotMet finding naming what broke, since faults cannot be
	// shown to cause what was already there. Continue: the faults run
	// anyway, and the SteadyStateNotMet finding and the report say the gate
	// was skipped.
	// +optional
	// +kubebuilder:default=Enforce
	SteadyStateGate SteadyStateGate `json:"steadyStateGate,omitempty"`

	// Faults are injected at their offsets and recovered after their duration
	// (or at the end of the drill).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Faults []Fault `json:"faults,omitempty"`

	// Hypothesis is the steady state that must hold; each breach is a finding.
	// +optional
	// +kubebuilder:default={}
	Hypothesis Hypothesis `json:"hypothesis,omitempty"`

	// Abort stops the drill early, recovering every fault at once, when the
	// error ratio stays above a bound for a while.
	// +optional
	Abort *AbortGuard `json:"abort,omitempty"`
}

// VictimSpec is the topology and the modes of the kit's payment service:
// gateway → orders (replicas) → ledger, plus a load generator.
type VictimSpec struct {
	// Orders is the orders service.
	// +optional
	// +kubebuilder:default={}
	Orders OrdersSpec `json:"orders,omitempty"`
	// Ledger is the ledger service.
	// +optional
	// +kubebuilder:default={}
	Ledger LedgerSpec `json:"ledger,omitempty"`
	// Gateway is the edge service.
	// +optional
	// +kubebuilder:default={}
	Gateway GatewaySpec `json:"gateway,omitempty"`
	// Image is the victim container image (cluster only).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`
}

// OrdersSpec configures the orders role.
type OrdersSpec struct {
	// Replicas is the number of orders processes (pods).
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Replicas int32 `json:"replicas,omitempty"`
	// Cache is the order cache strategy.
	// +optional
	// +kubebuilder:default=racy
	Cache CacheStrategy `json:"cache,omitempty"`
	// JanitorInterval is how often the racy cache's janitor ranges over the
	// map to evict entries older than CacheTTL (the victim's default, 10ms,
	// makes the race fire within seconds at any load). The longer the
	// interval and the smaller the map, the rarer the overlap of a sweep
	// and a write: a drill calibrates its steady state with it. Ignored by
	// the other strategies.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self) >= duration('1ms') && duration(self) <= duration('1h'))",message="must be between 1ms and 1h"
	JanitorInterval *metav1.Duration `json:"janitorInterval,omitempty"`
	// CacheTTL is how old an entry must be for the racy cache's janitor to
	// evict it (the victim's default: 30s); it bounds the map at about
	// rate × CacheTTL entries per replica.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self) >= duration('1ms') && duration(self) <= duration('1h'))",message="must be between 1ms and 1h"
	CacheTTL *metav1.Duration `json:"cacheTTL,omitempty"`
}

// JanitorArgs are the victim's orders flags for JanitorInterval and
// CacheTTL, the ones set.
func (o OrdersSpec) JanitorArgs() []string {
	var args []string
	if d := o.JanitorInterval; d != nil {
		args = append(args, "--janitor-interval="+d.Duration.String())
	}
	if d := o.CacheTTL; d != nil {
		args = append(args, "--cache-ttl="+d.Duration.String())
	}
	return args
}

// LedgerSpec configures the ledger role.
type LedgerSpec struct {
	// Idempotency is the ledger's guard against double charges.
	// +optional
	// +kubebuilder:default=none
	Idempotency Idempotency `json:"idempotency,omitempty"`
}

// GatewaySpec configures the gateway role.
type GatewaySpec struct {
	// Mode is how the gateway waits for orders.
	// +optional
	// +kubebuilder:default=leaky
	Mode GatewayMode `json:"mode,omitempty"`
	// Timeout is the per-try timeout of a call to orders.
	// +optional
	// +kubebuilder:default="500ms"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self) > duration('0s') && duration(self) <= duration('1m'))",message="must be greater than 0s and at most 1m"
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// Retries is the number of retries after the first try.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=5
	Retries *int32 `json:"retries,omitempty"`
}

// TargetSpec is your own service, drilled instead of the kit's victim: on
// a cluster, existing pods chosen by Selector; locally, processes the kit
// starts from Process and labels with Selector's matchLabels, so that the
// faults' selectors pick them as they pick pods. Signals are read from
// what any Go service can serve: go_goroutines from MetricsPath, and the
// goroutine dump of net/http/pprof at GoroutinesPath for leaks.
// +kubebuilder:validation:XValidation:rule="!has(self.process) || (has(self.selector.matchLabels) && size(self.selector.matchLabels) > 0)",message="target.process needs selector.matchLabels: they become the processes' labels",fieldPath=".selector"
type TargetSpec struct {
	// Selector selects the pods to observe, in the experiment's namespace.
	// With Process, its matchLabels are the labels of the processes.
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="must not be empty: an empty selector selects every pod in the namespace"
	Selector metav1.LabelSelector `json:"selector"`
	// Process runs the service as local processes (the local backend
	// only; a cluster refuses it).
	// +optional
	Process *ProcessSpec `json:"process,omitempty"`
	// Port is the port the pods serve their app on (cluster only; locally
	// the kit assigns $(PORT)). The load is sent to LoadURL; without it, a
	// cluster drill observes the pods under their own traffic.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// AdminPort is the port serving MetricsPath and GoroutinesPath on each
	// pod. Locally the kit assigns $(ADMIN_PORT), and reads the signals
	// from it when the service answers MetricsPath there once it is up,
	// from $(PORT) otherwise.
	// +optional
	// +kubebuilder:default=9090
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	AdminPort int32 `json:"adminPort,omitempty"`
	// MetricsPath is the path of the Prometheus metrics (go_goroutines).
	// +optional
	// +kubebuilder:default="/metrics"
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[^?#[:space:]]*$`
	MetricsPath string `json:"metricsPath,omitempty"`
	// GoroutinesPath is net/http/pprof's goroutine profile, read with
	// ?debug=2 (every goroutine's stack) to find leaked goroutines. Where
	// the service also serves Go's goroutine leak profile (the path's
	// directory + "goroutineleak"), its reports are used as the strongest
	// evidence.
	// +optional
	// +kubebuilder:default="/debug/pprof/goroutine"
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[^?#[:space:]]*$`
	GoroutinesPath string `json:"goroutinesPath,omitempty"`
	// LoadURL is the base URL the load generator sends its requests to
	// (cluster only: a Service in front of the pods, usually).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	LoadURL string `json:"loadURL,omitempty"`
}

// ProcessSpec is how the local backend runs a target: Replicas processes of
// Command, each a "pod" named target-<i>.
type ProcessSpec struct {
	// Command is the program and its arguments. $(PORT) and $(ADMIN_PORT)
	// are replaced, per replica, by the loopback ports the kit assigns; the
	// same values are set as the environment variables PORT and ADMIN_PORT.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	Command []string `json:"command"`
	// Replicas is the number of processes.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Replicas int32 `json:"replicas,omitempty"`
	// Env adds environment variables to the processes (beside PORT and
	// ADMIN_PORT); $(PORT) and $(ADMIN_PORT) are replaced in values too.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Env []EnvVar `json:"env,omitempty"`
}

// EnvVar is one environment variable of a target process.
type EnvVar struct {
	// Name is the variable's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`
	// Value is the variable's value.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value,omitempty"`
}

// LoadSpec is the open-loop load of the drill.
type LoadSpec struct {
	// Rate is the number of payment requests per second.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5000
	Rate int32 `json:"rate,omitempty"`
	// DuplicateRatio is the share (a decimal string from "0" to "1") of
	// order IDs sent twice: at the same moment, or DuplicateAfter later.
	// +optional
	// +kubebuilder:default="0.1"
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	// +kubebuilder:validation:MaxLength=16
	DuplicateRatio string `json:"duplicateRatio,omitempty"`
	// DuplicateAfter is how long after an order's first payment its
	// duplicate is sent, a Go duration string such as "300ms": a user
	// clicking "pay" again on a page that has not answered. "0s" (the
	// default) sends the two at the same moment. At most one hour.
	// +optional
	// +kubebuilder:default="0s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) <= duration('1h')",message="must be at least 0s and at most 1h"
	DuplicateAfter metav1.Duration `json:"duplicateAfter,omitempty"`
	// Request is the HTTP request sent, by default the kit's victim's
	// payment: POST /orders/{{.ID}}/pay with a JSON amount.
	// +optional
	Request *LoadRequest `json:"request,omitempty"`
}

// LoadRequest is the request the load generator sends to the target. In
// Path and Body, {{.ID}} is replaced by a fresh request id (the same id for
// both requests of a duplicated pair), so a request can name a new resource
// each time.
type LoadRequest struct {
	// Method is the HTTP method.
	// +optional
	// +kubebuilder:default=GET
	// +kubebuilder:validation:Enum=GET;HEAD;POST;PUT;PATCH;DELETE;OPTIONS
	Method string `json:"method,omitempty"`
	// Path is the request's path and query, from the target's base URL.
	// +optional
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^/[^#[:space:]]*$`
	Path string `json:"path,omitempty"`
	// Headers are set on every request.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Body string `json:"body,omitempty"`
	// SuccessCodes are the status codes of a successful answer, each a
	// code (204) or an inclusive range ("200-299", the default). Any other
	// answer counts as a failed request in the error ratio.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	SuccessCodes []intstr.IntOrString `json:"successCodes,omitempty"`
}

// DuplicateAfterArgs are the victim's loadgen flags for DuplicateAfter:
// --duplicate-after when it is above zero, none otherwise (the loadgen's
// default, 0, sends a pair at the same moment).
func (l LoadSpec) DuplicateAfterArgs() []string {
	if d := l.DuplicateAfter.Duration; d > 0 {
		return []string{"--duplicate-after=" + d.String()}
	}
	return nil
}

// Fault is one Chaos Mesh fault at an offset into the drill. Exactly one of
// PodChaos and NetworkChaos is set; both are Chaos Mesh's own spec types.
// +kubebuilder:validation:XValidation:rule="has(self.podChaos) != has(self.networkChaos)",message="exactly one of podChaos or networkChaos must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.podChaos) || self.podChaos.action != 'pod-failure' || has(self.podChaos.duration)",message="podChaos.duration is required for action pod-failure",fieldPath=".podChaos.duration"
// +kubebuilder:validation:XValidation:rule="!has(self.podChaos) || self.podChaos.action != 'container-kill' || (has(self.podChaos.containerNames) && size(self.podChaos.containerNames) > 0)",message="podChaos.containerNames is required for action container-kill",fieldPath=".podChaos.containerNames"
// +kubebuilder:validation:XValidation:rule="!has(self.podChaos) || !has(self.podChaos.duration) || duration(self.podChaos.duration) > duration('0s')",message="podChaos.duration must be greater than 0s",fieldPath=".podChaos.duration"
// +kubebuilder:validation:XValidation:rule="!has(self.networkChaos) || !has(self.networkChaos.duration) || duration(self.networkChaos.duration) > duration('0s')",message="networkChaos.duration must be greater than 0s",fieldPath=".networkChaos.duration"
// +kubebuilder:validation:XValidation:rule="!has(self.podChaos) || (has(self.podChaos.selector.labelSelectors) && size(self.podChaos.selector.labelSelectors) > 0) || (has(self.podChaos.selector.expressionSelectors) && size(self.podChaos.selector.expressionSelectors) > 0) || (has(self.podChaos.selector.pods) && size(self.podChaos.selector.pods) > 0) || (has(self.podChaos.selector.fieldSelectors) && size(self.podChaos.selector.fieldSelectors) > 0) || (has(self.podChaos.selector.annotationSelectors) && size(self.podChaos.selector.annotationSelectors) > 0)",message="podChaos.selector must not be empty: an empty selector selects every pod in the namespace",fieldPath=".podChaos.selector"
// +kubebuilder:validation:XValidation:rule="!has(self.networkChaos) || (has(self.networkChaos.selector.labelSelectors) && size(self.networkChaos.selector.labelSelectors) > 0) || (has(self.networkChaos.selector.expressionSelectors) && size(self.networkChaos.selector.expressionSelectors) > 0) || (has(self.networkChaos.selector.pods) && size(self.networkChaos.selector.pods) > 0) || (has(self.networkChaos.selector.fieldSelectors) && size(self.networkChaos.selector.fieldSelectors) > 0) || (has(self.networkChaos.selector.annotationSelectors) && size(self.networkChaos.selector.annotationSelectors) > 0)",message="networkChaos.selector must not be empty: an empty selector selects every pod in the namespace",fieldPath=".networkChaos.selector"
// +kubebuilder:validation:XValidation:rule="!has(self.podChaos) || !has(self.podChaos.selector.namespaces) || size(self.podChaos.selector.namespaces) == 0",message="podChaos.selector.namespaces must be empty: faults act only in the experiment's namespace",fieldPath=".podChaos.selector.namespaces"
// +kubebuilder:validation:XValidation:rule="!has(self.networkChaos) || !has(self.networkChaos.selector.namespaces) || size(self.networkChaos.selector.namespaces) == 0",message="networkChaos.selector.namespaces must be empty: faults act only in the experiment's namespace",fieldPath=".networkChaos.selector.namespaces"
// +kubebuilder:validation:XValidation:rule="!has(self.networkChaos) || !has(self.networkChaos.target) || !has(self.networkChaos.target.selector.namespaces) || size(self.networkChaos.target.selector.namespaces) == 0",message="networkChaos.target.selector.namespaces must be empty: faults act only in the experiment's namespace",fieldPath=".networkChaos.target.selector.namespaces"
// +kubebuilder:validation:XValidation:rule="!has(self.networkChaos) || (self.networkChaos.action != 'delay' || has(self.networkChaos.delay)) && (self.networkChaos.action != 'loss' || has(self.networkChaos.loss)) && (self.networkChaos.action != 'duplicate' || has(self.networkChaos.duplicate)) && (self.networkChaos.action != 'corrupt' || has(self.networkChaos.corrupt)) && (self.networkChaos.action != 'bandwidth' || has(self.networkChaos.bandwidth))",message="networkChaos needs the parameters of its action: delay, loss, duplicate, corrupt or bandwidth",fieldPath=".networkChaos.action"
// +kubebuilder:validation:XValidation:rule="!has(self.podChaos) || !(self.podChaos.mode in ['fixed', 'fixed-percent', 'random-max-percent']) || (has(self.podChaos.value) && int(self.podChaos.value) > 0 && (self.podChaos.mode == 'fixed' || int(self.podChaos.value) <= 100))",message="podChaos.value must be a whole number greater than 0 for mode fixed, and from 1 to 100 for fixed-percent and random-max-percent",fieldPath=".podChaos.value"
// +kubebuilder:validation:XValidation:rule="!has(self.networkChaos) || !(self.networkChaos.mode in ['fixed', 'fixed-percent', 'random-max-percent']) || (has(self.networkChaos.value) && int(self.networkChaos.value) > 0 && (self.networkChaos.mode == 'fixed' || int(self.networkChaos.value) <= 100))",message="networkChaos.value must be a whole number greater than 0 for mode fixed, and from 1 to 100 for fixed-percent and random-max-percent",fieldPath=".networkChaos.value"
// +kubebuilder:validation:XValidation:rule="(!has(self.podChaos) || !has(self.podChaos.remoteCluster) || size(self.podChaos.remoteCluster) == 0) && (!has(self.networkChaos) || !has(self.networkChaos.remoteCluster) || size(self.networkChaos.remoteCluster) == 0)",message="remoteCluster is not supported: faults act only in the experiment's cluster"
// +kubebuilder:validation:XValidation:rule="!has(self.networkChaos) || !has(self.networkChaos.delay) || !has(self.networkChaos.delay.latency) || duration(self.networkChaos.delay.latency) + duration(has(self.networkChaos.delay.jitter) && size(self.networkChaos.delay.jitter) > 0 ? self.networkChaos.delay.jitter : '0s') <= duration('10s')",message="networkChaos.delay.latency plus networkChaos.delay.jitter must be at most 10s",fieldPath=".networkChaos.delay.latency"
type Fault struct {
	// Name identifies the fault in status, findings and the chaos object's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// After is the offset from the start of the drill, at least the
	// experiment's steadyState (a fault inside the steady state would be
	// in the baseline it is judged against) and less than its duration.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	After metav1.Duration `json:"after"`
	// PodChaos is a Chaos Mesh PodChaos spec.
	// +optional
	PodChaos *chaosv1alpha1.PodChaosSpec `json:"podChaos,omitempty"`
	// NetworkChaos is a Chaos Mesh NetworkChaos spec.
	// +optional
	NetworkChaos *chaosv1alpha1.NetworkChaosSpec `json:"networkChaos,omitempty"`
}

// Hypothesis is the steady state the drill expects to hold. Ratios and
// growth factors are decimal strings, as Kubernetes APIs avoid floats.
type Hypothesis struct {
	// MaxErrorRatio is the highest acceptable share of failed requests
	// (5xx and transport errors, seen by the load generator) in any sample.
	// +optional
	// +kubebuilder:default="0.01"
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	// +kubebuilder:validation:MaxLength=16
	MaxErrorRatio string `json:"maxErrorRatio,omitempty"`
	// MaxDuplicateCharges is the highest acceptable number of orders charged twice.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000000
	MaxDuplicateCharges *int64 `json:"maxDuplicateCharges,omitempty"`
	// MaxGoroutineGrowth is the highest acceptable ratio of a process's
	// goroutines to its steady-state baseline, from "1" (no growth) to "9999",
	// judged on the lowest count of each process once every fault is over
	// and a settle time (6s) has passed, and only beyond 20 goroutines above
	// the baseline: in-flight work legitimately rises while a fault slows
	// the system and drains after it; goroutines that stay up are leaked.
	// +optional
	// +kubebuilder:default="2.0"
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^([1-9][0-9]{0,3})(\.[0-9]+)?$`
	MaxGoroutineGrowth string `json:"maxGoroutineGrowth,omitempty"`
	// MaxLeakedGoroutines is the highest acceptable goleak count in any process.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000000
	MaxLeakedGoroutines *int64 `json:"maxLeakedGoroutines,omitempty"`
	// MaxRestarts is the highest acceptable number of process restarts
	// not caused by an injected pod fault.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MaxRestarts *int32 `json:"maxRestarts,omitempty"`
}

// AbortGuard stops a drill that has gone too far.
type AbortGuard struct {
	// ErrorRatioAbove is the error ratio (decimal string) that trips the guard.
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	// +kubebuilder:validation:MaxLength=16
	ErrorRatioAbove string `json:"errorRatioAbove"`
	// For is how long the ratio must stay above the bound.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) > duration('0s')",message="must be greater than 0s"
	For metav1.Duration `json:"for,omitempty"`
}
