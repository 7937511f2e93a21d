// Package admin builds what every victim role serves on its admin port
// (/metrics, /healthz, /readyz, /debug/pprof/, /debug/goleak) and the
// Prometheus registry and HTTP instrumentation the roles share.
package admin

import (
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cascadelab/cascadelab/victim/leakreport"
)

// Metrics is a role's registry and its HTTP server instrumentation.
type Metrics struct {
	// Registry holds every metric the role exposes.
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	client   clientMetrics
}

// NewMetrics returns a registry with the Go collector and this package's
// process collector (NewProcessCollector: client_golang's process metrics
// but the network counters, cheaper to scrape),
// http_requests_total{code,method,handler},
// http_request_duration_seconds{code,method,handler} and the per-edge client
// metrics of InstrumentClient (exposed once a call has been made).
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		NewProcessCollector(),
	)
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by status code, method and handler.",
		}, []string{"code", "method", "handler"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by status code, method and handler.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"code", "method", "handler"}),
		client: newClientMetrics(),
	}
	reg.MustRegister(m.requests, m.duration, m.client.requests, m.client.duration)
	return m
}

// Instrument wraps h with promhttp's counter and duration middleware under
// the given handler label.
func (m *Metrics) Instrument(handler string, h http.Handler) http.Handler {
	l := prometheus.Labels{"handler": handler}
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l),
		promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(l), h))
}

// Info registers victim_info with the given labels (role and modes) set to 1.
func (m *Metrics) Info(labels prometheus.Labels) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "victim_info",
		Help:        "Constant 1, labelled with the process's role and modes.",
		ConstLabels: labels,
	})
	g.Set(1)
	m.Registry.MustRegister(g)
}

// Ready is a readiness flag for /readyz, plus an optional check run on each
// probe once the flag is set.
type Ready struct {
	ok    atomic.Bool
	Check func() error
}

// Set marks the process ready (or not).
func (r *Ready) Set(ok bool) { r.ok.Store(ok) }

// Handler returns the admin mux: /metrics, /healthz, /readyz, /debug/pprof/
// and /debug/goleak.
func Handler(m *Metrics, ready *Ready, leaks *leakreport.Reporter) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /readyz", m.Instrument("readyz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready.ok.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if ready.Check != nil {
			if err := ready.Check(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	})))
	mux.Handle("GET /debug/goleak", m.Instrument("goleak", leaks))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
