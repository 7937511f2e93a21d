package admin

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/victim/leakreport"
)

func TestInstrumentClient(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer up.Close()
	// A port that refuses: listen, note the address, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	m := NewMetrics()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := m.InstrumentClientOf("ledger", &http.Client{Transport: tr})
	for i := 0; i < 3; i++ {
		resp, err := c.Post(up.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if resp, err := c.Get(up.URL); err == nil {
		resp.Body.Close()
	}
	if resp, err := c.Post(refused, "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		t.Fatal("a closed port answered")
	}

	_, metrics := get(t, Handler(m, &Ready{}, leakreport.New()), "/metrics")
	for _, want := range []string{
		`http_client_requests_total{code="200",method="post",upstream="ledger"} 3`,
		`http_client_requests_total{code="503",method="get",upstream="ledger"} 1`,
		`http_client_requests_total{code="error",method="post",upstream="ledger"} 1`,
		`http_client_request_duration_seconds_count{code="200",method="post",upstream="ledger"} 3`,
		`http_client_request_duration_seconds_count{code="error",method="post",upstream="ledger"} 1`,
		`http_client_request_duration_seconds_bucket{code="200",method="post",upstream="ledger",le="0.001"}`,
		`http_client_request_duration_seconds_bucket{code="200",method="post",upstream="ledger",le="0.2"}`,
		`http_client_request_duration_seconds_bucket{code="200",method="post",upstream="ledger",le="5"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
}

func TestClientMetricsAbsentUntilUsed(t *testing.T) {
	_, metrics := get(t, Handler(NewMetrics(), &Ready{}, leakreport.New()), "/metrics")
	if strings.Contains(metrics, "http_client_") {
		t.Errorf("a role that calls nothing exposes client metrics:\n%s", metrics)
	}
}

func TestMethodLabel(t *testing.T) {
	for in, want := range map[string]string{"GET": "get", "post": "post", "PATCH": "patch", "BREW": "unknown"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
