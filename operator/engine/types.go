package engine

import (
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// ActionType names something the engine asks its backend to do.
type ActionType string

// Actions, in the order a drill normally asks for them.
const (
	// ActionStartVictim starts the victim topology (or resolves spec.target).
	ActionStartVictim ActionType = "StartVictim"
	// ActionStartLoad starts the load generator; the drill clock starts with it.
	ActionStartLoad ActionType = "StartLoad"
	// ActionInject injects fault Action.Fault.
	ActionInject ActionType = "InjectFault"
	// ActionRecover recovers fault Action.Fault.
	ActionRecover ActionType = "RecoverFault"
	// ActionStop stops the load and the victim: the drill is over.
	ActionStop ActionType = "Stop"
)

// Action is one thing the backend must do now.
type Action struct {
	Type ActionType `json:"type"`
	// Fault is the index into spec.faults for inject and recover actions.
	Fault int `json:"fault,omitempty"`
	// Reason explains the action (e.g. "abort guard tripped").
	Reason string `json:"reason,omitempty"`
}

// Observation is what the backend saw at one moment of the drill.
type Observation struct {
	// At is the offset from the start of the load.
	At time.Duration
	// Samples has one sample per target (process or pod).
	Samples []observe.Sample
	// Crashes are the process exits seen since the previous observation.
	Crashes []observe.Crash
}

// Point is one row of the drill's time series, derived from an Observation.
type Point struct {
	At time.Duration `json:"at"`
	// Phase is the engine's phase at that moment.
	Phase v1alpha1.Phase `json:"phase"`
	// RequestRate is the load generator's requests per second.
	RequestRate float64 `json:"requestRate"`
	// ErrorRatio is the client-side share of 5xx and transport errors.
	ErrorRatio float64 `json:"errorRatio"`
	// Server5xxRatio is the server-side 5xx share per role.
	Server5xxRatio map[string]float64 `json:"server5xxRatio,omitempty"`
	// P99 is the client-side 99th percentile latency in seconds.
	P99 float64 `json:"p99"`
	// Goroutines is go_goroutines per target and "total".
	Goroutines map[string]float64 `json:"goroutines"`
	// Leaked is the goleak count per target.
	Leaked map[string]int64 `json:"leaked,omitempty"`
	// Restarts is the cumulative restart count of all targets.
	Restarts int32 `json:"restarts"`
	// DuplicateCharges is the cumulative number of duplicate charges.
	DuplicateCharges float64 `json:"duplicateCharges"`
	// DuplicateChargedCents is the cumulative money charged twice.
	DuplicateChargedCents float64 `json:"duplicateChargedCents"`
	// ActiveFaults names the faults injected at that moment.
	ActiveFaults []string `json:"activeFaults,omitempty"`
	// Targets is each observed process at that moment, by target name: its
	// role, whether its scrape answered, what it served and its restarts.
	// The report's topology colours its nodes from it.
	Targets map[string]TargetPoint `json:"targets,omitempty"`
	// Edges are the calls between processes over the interval ending at
	// At, as each caller measured them: the load generator's requests into
	// the victim and every process's calls into an upstream role, sorted by
	// caller then upstream.
	Edges []EdgePoint `json:"edges,omitempty"`
}

// TargetPoint is one process in one Point.
type TargetPoint struct {
	// Role is the victim role (gateway, orders, ledger, loadgen).
	Role string `json:"role"`
	// Up is false when the process's scrape failed (down, restarting).
	Up bool `json:"up"`
	// RequestRate is the requests per second it served over the interval
	// (the load generator: sent).
	RequestRate float64 `json:"requestRate,omitempty"`
	// ErrorRatio is its server-side 5xx share over the interval (the load
	// generator: its share of 5xx and transport errors).
	ErrorRatio float64 `json:"errorRatio,omitempty"`
	// Restarts is its cumulative restart count.
	Restarts int32 `json:"restarts,omitempty"`
}

// EdgePoint is one caller's calls into one upstream over one interval.
// A caller's metrics name the upstream role, not the replica: the calls of
// a gateway into two orders replicas are one edge.
type EdgePoint struct {
	// From is the calling process (a target name).
	From string `json:"from"`
	// To is the upstream role; for the load generator it is EdgeEntry.
	To string `json:"to"`
	// Rate is calls per second; ErrorRatio their share of 5xx answers and
	// transport errors (0 without calls).
	Rate       float64 `json:"rate"`
	ErrorRatio float64 `json:"errorRatio"`
	// P99 and Mean are the calls' latency in seconds (0 when unknown).
	P99  float64 `json:"p99,omitempty"`
	Mean float64 `json:"mean,omitempty"`
}

// EdgeEntry is EdgePoint.To for the load generator's requests: the
// victim's entry point, whatever role it is (the gateway, or orders when
// a drill loads them directly).
const EdgeEntry = "entry"

// TimelineEvent is one step of the cascade: first crash, first upstream 5xx,
// goroutine growth, leaks, duplicate charges, faults.
type TimelineEvent struct {
	At     time.Duration `json:"at"`
	Kind   string        `json:"kind"`
	Target string        `json:"target,omitempty"`
	Detail string        `json:"detail"`
}
