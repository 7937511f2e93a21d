package drive

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// TestOwnServiceMetricsPath: a target's metrics are read at
// spec.target.metricsPath, not at /metrics.
func TestOwnServiceMetricsPath(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/internal/prom" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# TYPE go_goroutines gauge\ngo_goroutines 42\n")
	}))
	defer srv.Close()
	spec := v1alpha1.ExperimentSpec{Target: &v1alpha1.TargetSpec{MetricsPath: "/internal/prom"}}
	s := observe.NewScraper(targetScrapeOptions(spec)...)
	defer s.CloseIdleConnections()
	sm := s.Scrape(context.Background(), 0, observe.Target{Name: "target-0", Role: roleTarget, AdminURL: srv.URL}, false)
	if !sm.Up || sm.Goroutines != 42 {
		t.Errorf("sample %+v: want go_goroutines 42 read at /internal/prom", sm)
	}
	if opts := targetScrapeOptions(v1alpha1.ExperimentSpec{Target: &v1alpha1.TargetSpec{MetricsPath: "/metrics"}}); opts != nil {
		t.Errorf("the default path needs no rewriting: %d options", len(opts))
	}
}
