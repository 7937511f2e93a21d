package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/cascadelab/cascadelab/victim/leakreport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestAdmin(t *testing.T) {
	m := NewMetrics()
	m.Info(prometheus.Labels{"role": "orders", "cache": "mutex"})
	var ready Ready
	h := Handler(m, &ready, leakreport.New())
	app := m.Instrument("pay", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(418) }))
	app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/orders/x/pay", nil))

	if code, _ := get(t, h, "/readyz"); code != 503 {
		t.Errorf("readyz before ready: %d", code)
	}
	ready.Set(true)
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Errorf("readyz when ready: %d", code)
	}
	ready.Check = func() error { return errors.New("db down") }
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "db down") {
		t.Errorf("readyz with failing check: %d %s", code, body)
	}
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	_, metrics := get(t, h, "/metrics")
	for _, want := range []string{"go_goroutines ", `http_requests_total{code="418",handler="pay",method="post"} 1`,
		"http_request_duration_seconds_bucket{", `victim_info{cache="mutex",role="orders"} 1`, "process_"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	code, body := get(t, h, "/debug/goleak")
	var rep leakreport.Report
	if err := json.Unmarshal([]byte(body), &rep); code != 200 || err != nil || rep.Groups == nil {
		t.Errorf("goleak: %d %s %v", code, body, err)
	}
	if code, body := get(t, h, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof: %d", code)
	}
}
