package observe

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// victimRegistry builds a registry shaped like a victim's: Go collector,
// http_requests_total with admin handlers, a latency histogram, victim_info
// and the ledger's business counters.
func victimRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total"}, []string{"code", "method", "handler"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
		Buckets: []float64{.1, .5, 1}}, []string{"code", "method", "handler"})
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "victim_info", ConstLabels: prometheus.Labels{"role": "ledger", "idempotency": "none"}})
	dup := prometheus.NewCounter(prometheus.CounterOpts{Name: "victim_duplicate_charges_total"})
	dupc := prometheus.NewCounter(prometheus.CounterOpts{Name: "victim_duplicate_charged_cents_total"})
	ch := prometheus.NewCounter(prometheus.CounterOpts{Name: "victim_charges_total"})
	reg.MustRegister(req, lat, info, dup, dupc, ch)
	info.Set(1)
	req.WithLabelValues("200", "post", "charges").Add(90)
	req.WithLabelValues("500", "post", "charges").Add(7)
	req.WithLabelValues("200", "get", "order").Add(3)
	req.WithLabelValues("503", "get", "readyz").Add(50) // admin: left out
	for _, v := range []float64{.05, .05, .3, .7, 2} {
		lat.WithLabelValues("200", "post", "charges").Observe(v)
	}
	lat.WithLabelValues("200", "get", "readyz").Observe(.05)
	dup.Add(3)
	dupc.Add(7110)
	ch.Add(97)
	return reg
}

func TestParseFormats(t *testing.T) {
	srv := httptest.NewServer(promhttp.HandlerFor(victimRegistry(t), promhttp.HandlerOpts{}))
	defer srv.Close()
	for _, accept := range []string{
		"text/plain;version=0.0.4",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"application/openmetrics-text;version=1.0.0",
	} {
		t.Run(accept, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Accept", accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			s, err := Parse(resp.Body, resp.Header.Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			if s.Role != "ledger" {
				t.Errorf("role %q", s.Role)
			}
			if s.Goroutines < 1 {
				t.Errorf("goroutines %v", s.Goroutines)
			}
			if s.ServerRequests["200"] != 93 || s.ServerRequests["500"] != 7 || s.ServerRequests["503"] != 0 {
				t.Errorf("server requests %v", s.ServerRequests)
			}
			want := []Bucket{{.1, 2}, {.5, 3}, {1, 4}, {math.Inf(1), 5}}
			if len(s.ServerLatency) != len(want) {
				t.Fatalf("latency %v", s.ServerLatency)
			}
			for i := range want {
				if s.ServerLatency[i] != want[i] {
					t.Errorf("bucket %d: %v want %v", i, s.ServerLatency[i], want[i])
				}
			}
			if s.DuplicateCharges != 3 || s.DuplicateChargedCents != 7110 || s.Charges != 97 {
				t.Errorf("ledger %v %v %v", s.DuplicateCharges, s.DuplicateChargedCents, s.Charges)
			}
			if s.Leaked != -1 {
				t.Errorf("leaked %d, want -1", s.Leaked)
			}
		})
	}
}

func TestParseLoadgenText(t *testing.T) {
	text := `# TYPE loadgen_requests_total counter
loadgen_requests_total{code="200"} 950
loadgen_requests_total{code="500"} 30
loadgen_requests_total{code="error"} 20
# TYPE loadgen_request_duration_seconds histogram
loadgen_request_duration_seconds_bucket{le="0.1"} 900
loadgen_request_duration_seconds_bucket{le="1"} 990
loadgen_request_duration_seconds_bucket{le="+Inf"} 1000
loadgen_request_duration_seconds_sum 55
loadgen_request_duration_seconds_count 1000
# TYPE go_goroutines gauge
go_goroutines 42
`
	s, err := Parse(strings.NewReader(text), "")
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientRequests["error"] != 20 || s.ClientRequests["500"] != 30 || s.Goroutines != 42 {
		t.Errorf("got %+v", s)
	}
	if len(s.ClientLatency) != 3 || s.ClientLatency[2].Count != 1000 {
		t.Errorf("latency %v", s.ClientLatency)
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"garbage": "this is { not metrics\n",
		"empty":   "",
		"html":    "<html><body>404</body></html>",
	} {
		if _, err := Parse(strings.NewReader(in), "text/plain"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
