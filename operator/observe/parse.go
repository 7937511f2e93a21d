package observe

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/prometheus/common/expfmt"
)

// Metric names read from a victim's /metrics. They are part of the victim's
// contract (see DESIGN.md) and shared with the PromQL in operator/engine.
const (
	MetricGoroutines            = "go_goroutines"
	MetricServerRequests        = "http_requests_total"
	MetricServerLatency         = "http_request_duration_seconds"
	MetricInfo                  = "victim_info"
	MetricCharges               = "victim_charges_total"
	MetricChargedCents          = "victim_charged_cents_total"
	MetricDuplicateCharges      = "victim_duplicate_charges_total"
	MetricDuplicateChargedCents = "victim_duplicate_charged_cents_total"
	MetricClientRequests        = "loadgen_requests_total"
	MetricClientLatency         = "loadgen_request_duration_seconds"
	// MetricEdgeRequests and MetricEdgeLatency are the callers' per-edge
	// client metrics, labelled upstream, code and method (Sample.Upstream).
	MetricEdgeRequests = "http_client_requests_total"
	MetricEdgeLatency  = "http_client_request_duration_seconds"
)

// CodeError is the code label of a client call that got no response, in
// loadgen_requests_total and http_client_requests_total.
const CodeError = "error"

// AdminHandlers are the values of the handler label that belong to the
// admin server (probes and reports), not to the payment path. Parse leaves
// them out of ServerRequests and ServerLatency: a /readyz answering 503
// while a process starts is not a failed payment.
var AdminHandlers = []string{"readyz", "healthz", "goleak", "metrics"}

// Parse reads one exposition (Prometheus text, OpenMetrics or delimited
// protobuf, as named by contentType; text when it is empty or unknown) and
// returns a Sample with its metric fields filled in: Target, Role, At, Up
// and the leak fields are left to the caller (Leaked is -1). Counters are
// summed over their labels as the Sample fields describe. Role is taken from
// victim_info{role} when present.
//
// The body is streamed within Limits (DefaultLimits unless WithLimits says
// otherwise): one line or one series at a time, only the families above
// kept, upstreams, codes and buckets bounded (Sample.Notes says what was
// folded or cut). A body beyond MaxBytes, MaxFamilies, MaxSeries or
// MaxLineBytes fails with an error wrapping ErrTooLarge.
func Parse(r io.Reader, contentType string, opts ...ParseOption) (Sample, error) {
	lim := DefaultLimits
	for _, o := range opts {
		o(&lim)
	}
	lim = lim.withDefaults()
	s := Sample{Leaked: -1}
	format := expfmt.FmtText
	if contentType != "" {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		if f := expfmt.ResponseFormat(h); f.FormatType() != expfmt.TypeUnknown {
			format = f
		}
	}
	r = &cappedReader{r: r, left: lim.MaxBytes, max: lim.MaxBytes}
	a := newAggregator(lim, &s)
	var err error
	switch format.FormatType() {
	case expfmt.TypeProtoDelim:
		err = parseDelimited(r, a)
	case expfmt.TypeTextPlain, expfmt.TypeOpenMetrics:
		err = parseText(r, a)
		if err == nil && a.samples == 0 {
			err = errors.New("parse metrics: no metric families")
		}
	default:
		err = fmt.Errorf("parse metrics: unsupported format %s", format)
	}
	a.finish()
	return s, err
}

// MeanLatency is LatencySum/LatencyCount in seconds; ok is false when no
// call was timed.
func (e EdgeStats) MeanLatency() (seconds float64, ok bool) {
	if e.LatencyCount <= 0 {
		return 0, false
	}
	return e.LatencySum / e.LatencyCount, true
}

// FormatRatio formats a ratio as the decimal string used in status, such as
// "0.4213".
func FormatRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}
