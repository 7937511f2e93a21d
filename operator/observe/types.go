// Package observe turns what a victim process exposes into samples: it
// scrapes the Prometheus exposition format from /metrics (parsed with
// prometheus/common's expfmt), reads /debug/goleak reports and extracts the
// headline of a Go crash from a process's stderr or termination message.
//
// It has no Kubernetes client: the local runner and the operator both use it.
package observe

import "time"

// Target is one process (a pod in a cluster) whose admin port is observed.
type Target struct {
	// Name identifies the process, e.g. "orders-1" or a pod name.
	Name string
	// Role is the victim role: gateway, orders, ledger or loadgen.
	Role string
	// AdminURL is the base URL of the admin server, e.g. "http://10.0.0.7:9090".
	AdminURL string
	// Labels are the pod labels of the process.
	Labels map[string]string
	// Instance identifies the running process behind Name: it changes when
	// the process is replaced (a pod's UID and container restart count in a
	// cluster, a process ID locally). Empty when unknown.
	Instance string
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64 `json:"le"`
	Count      float64 `json:"count"`
}

// Sample is one observation of one target. Counters are cumulative as
// exposed (they reset when the process restarts); the engine derives rates.
type Sample struct {
	Target string        `json:"target"`
	Role   string        `json:"role"`
	At     time.Duration `json:"at"`
	// Up is false when the scrape failed; Error says why.
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`

	// Goroutines is go_goroutines.
	Goroutines float64 `json:"goroutines"`
	// ServerRequests is http_requests_total summed over handlers, by status code.
	ServerRequests map[string]float64 `json:"serverRequests,omitempty"`
	// ServerLatency is http_request_duration_seconds summed over labels.
	ServerLatency []Bucket `json:"serverLatency,omitempty"`
	// ClientRequests is loadgen_requests_total by code ("error" = transport error).
	ClientRequests map[string]float64 `json:"clientRequests,omitempty"`
	// ClientLatency is loadgen_request_duration_seconds.
	ClientLatency []Bucket `json:"clientLatency,omitempty"`
	// Upstream is this process's calls into other roles, as it measured
	// them (http_client_requests_total and
	// http_client_request_duration_seconds), keyed by the upstream role
	// ("orders" on a gateway, "ledger" on an orders replica).
	Upstream map[string]EdgeStats `json:"upstream,omitempty"`

	// Ledger business metrics.
	Charges               float64 `json:"charges,omitempty"`
	ChargedCents          float64 `json:"chargedCents,omitempty"`
	DuplicateCharges      float64 `json:"duplicateCharges,omitempty"`
	DuplicateChargedCents float64 `json:"duplicateChargedCents,omitempty"`

	// Leaked is the goleak count from /debug/goleak, -1 when not read.
	Leaked int64 `json:"leaked"`
	// LeakGroups are the leaked goroutines grouped by function.
	LeakGroups []LeakGroup `json:"leakGroups,omitempty"`
	// LeakAge is how old the Leaked figure is at the sample: the leak
	// scan runs on its own cadence, and a victim may serve a cached
	// report (LeakReport.AgeSeconds).
	LeakAge time.Duration `json:"leakAge,omitempty"`
	// LeakOldestBlockedMinutes is how long the longest-blocked leaked
	// goroutine had been blocked, in whole minutes (a lower bound; 0 under
	// a minute), from the runtime's stack headers.
	LeakOldestBlockedMinutes int `json:"leakOldestBlockedMinutes,omitempty"`

	// Notes say what Parse folded or cut to stay within its Limits, each
	// with how many series it concerned, such as `series of upstream
	// values beyond the first 32 folded into "other" (99968 series)`:
	// a target with more upstreams, codes or bucket bounds than the kit
	// keeps. A driver can surface them in the report; they never fail a
	// scrape.
	Notes []string `json:"notes,omitempty"`

	// Restarts is the process's restart count, filled in by the backend.
	Restarts int32 `json:"restarts"`
	// Instance is Target.Instance at the time of the sample.
	Instance string `json:"instance,omitempty"`
}

// EdgeStats is one caller's view of its calls into one upstream role, summed
// over methods and the caller's series. Like every Sample counter it is
// cumulative as exposed and resets when the caller restarts.
type EdgeStats struct {
	// Requests is http_client_requests_total by code: the status code, or
	// "error" for a call that got no response (timeout, refused or reset
	// connection, cancelled request).
	Requests map[string]float64 `json:"requests,omitempty"`
	// Latency is http_client_request_duration_seconds' cumulative buckets
	// over every code, "error" included, with a +Inf bucket.
	Latency []Bucket `json:"latency,omitempty"`
	// LatencySum is the histogram's sum of observed seconds.
	LatencySum float64 `json:"latencySum"`
	// LatencyCount is the histogram's count of observations.
	LatencyCount float64 `json:"latencyCount"`
}

// LeakGroup is leaked goroutines that share a function.
type LeakGroup struct {
	Function string `json:"function"`
	Count    int64  `json:"count"`
	Stack    string `json:"stack,omitempty"`
}

// LeakReport is the JSON served by a victim's /debug/goleak.
type LeakReport struct {
	Leaked int64       `json:"leaked"`
	Groups []LeakGroup `json:"groups"`
	// OldestBlockedMinutes is the longest-blocked leaked goroutine's
	// blocked time in whole minutes, a lower bound (0 under a minute).
	OldestBlockedMinutes int `json:"oldest_blocked_minutes"`
	// AgeSeconds is how old the report was when served (0 when fresh).
	AgeSeconds float64 `json:"age_seconds"`
}

// Crash is a process exit that the backend saw.
type Crash struct {
	Target string        `json:"target"`
	At     time.Duration `json:"at"`
	// ExitCode is the exit status, or -1 when killed by a signal.
	ExitCode int `json:"exitCode"`
	// Signal names the signal that killed it, if any.
	Signal string `json:"signal,omitempty"`
	// Headline is the first line that explains the crash, such as
	// "fatal error: concurrent map writes".
	Headline string `json:"headline,omitempty"`
	// Injected is true when an injected fault caused the exit (pod-kill).
	Injected bool `json:"injected"`
	// Cause says, when Injected, which fault and how: "killed by pod-kill
	// kill-one-orders", or a kubelet's restart while a network fault was on
	// the pod (its probes pass through the pod's network).
	Cause string `json:"cause,omitempty"`
}

// The victim's identity on its pods, in one place: the label keys and the
// app name both backends put on the victim's processes, which fault
// selectors match (app.kubernetes.io/component: ledger).
const (
	// LabelName is the standard name label; victim pods carry AppName.
	LabelName = "app.kubernetes.io/name"
	// LabelComponent is the victim role (gateway, orders, ledger, loadgen).
	LabelComponent = "app.kubernetes.io/component"
	// LabelInstance is the Experiment's name.
	LabelInstance = "app.kubernetes.io/instance"
	// AppName is the value of LabelName on every victim pod.
	AppName = "cascadelab-victim"
)

// Victim roles, as in victim_info{role}, Target.Role and LabelComponent.
const (
	RoleGateway = "gateway"
	RoleOrders  = "orders"
	RoleLedger  = "ledger"
	RoleLoadgen = "loadgen"
)
