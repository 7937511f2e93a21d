package admin

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Client-side, per-edge metric names: the caller's view of each call into
// an upstream role (gateway→orders, orders→ledger).
const (
	// ClientRequestsName is http_client_requests_total{upstream,code,method};
	// code is the response's status code, or CodeError for a transport error.
	ClientRequestsName = "http_client_requests_total"
	// ClientDurationName is http_client_request_duration_seconds{upstream,code,method}.
	ClientDurationName = "http_client_request_duration_seconds"
	// CodeError is the code label of a call that got no response: a timeout,
	// a refused or reset connection, a cancelled request.
	CodeError = "error"
)

// ClientBuckets resolve 1 ms … 5 s finely enough that a 200 ms delay on an
// edge stands clear of a 1–5 ms loopback baseline.
var ClientBuckets = []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .15, .2, .25, .3, .4, .5, .75, 1, 2.5, 5, 10}

// clientMetrics are the vectors behind InstrumentClient.
type clientMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newClientMetrics() clientMetrics {
	labels := []string{"upstream", "code", "method"}
	return clientMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ClientRequestsName,
			Help: `HTTP calls made to an upstream role, by upstream, status code ("error" = transport error) and method.`,
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    ClientDurationName,
			Help:    `Time from sending an HTTP call to an upstream role until its response headers (or its transport error, code "error"), by upstream, status code and method.`,
			Buckets: ClientBuckets,
		}, labels),
	}
}

// InstrumentClient wraps next (http.DefaultTransport when nil) with
// per-edge client metrics labelled upstream: promhttp's
// InstrumentRoundTripperCounter and InstrumentRoundTripperDuration for calls
// that got a response, and a wrapper that counts and times calls that got
// none (promhttp records nothing then) under code="error", so lost packets
// and partitions show on the edge as errors.
func (m *Metrics) InstrumentClient(upstream string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	l := prometheus.Labels{"upstream": upstream}
	requests := m.client.requests.MustCurryWith(l)
	duration := m.client.duration.MustCurryWith(l)
	instrumented := promhttp.InstrumentRoundTripperCounter(requests,
		promhttp.InstrumentRoundTripperDuration(duration, next))
	return promhttp.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := instrumented.RoundTrip(r)
		if err != nil {
			method := methodLabel(r.Method)
			requests.WithLabelValues(CodeError, method).Inc()
			duration.WithLabelValues(CodeError, method).Observe(time.Since(start).Seconds())
		}
		return resp, err
	})
}

// InstrumentClientOf returns a copy of c whose transport is wrapped by
// InstrumentClient under upstream; c itself is left alone.
func (m *Metrics) InstrumentClientOf(upstream string, c *http.Client) *http.Client {
	cp := *c
	cp.Transport = m.InstrumentClient(upstream, c.Transport)
	return &cp
}

// methodLabel spells a method as promhttp does (lower case, "unknown" for
// the unusual ones), so error and response series share method values.
func methodLabel(m string) string {
	switch l := strings.ToLower(m); l {
	case "get", "put", "head", "post", "delete", "connect", "options", "notify", "trace", "patch":
		return l
	}
	return "unknown"
}
