package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOwnServiceRequest checks a Request sent instead of the payment: its
// method, path, header and body with {{.ID}} replaced by a fresh id (the
// same for a duplicated pair), and answers outside the success codes
// counted as failures.
func TestOwnServiceRequest(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]int{}
	bad := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			return // the readiness probe
		}
		b, _ := io.ReadAll(r.Body)
		id := strings.TrimPrefix(r.URL.Path, "/kv/")
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPut || r.Header.Get("X-Drill") != "yes" || string(b) != `{"key":"`+id+`"}` || !strings.HasPrefix(id, "own-") {
			bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		keys[id]++
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	run := func(codes string) Summary {
		t.Helper()
		req, err := ParseRequest(`{"method": "PUT", "path": "/kv/{{.ID}}", "headers": {"X-Drill": "yes"}, "body": "{\"key\":\"{{.ID}}\"}"` + codes + `}`)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Run(context.Background(), Config{Target: srv.URL, Rate: 100, DuplicateRatio: 0.5, Duration: 500 * time.Millisecond,
			Seed: 5, OrderPrefix: "own", Request: req}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	sum := run(`, "successCodes": [201]`)
	if sum.Requests < 20 || sum.Codes["201"] != sum.Requests {
		t.Errorf("201 is a success code: summary %+v", sum)
	}
	mu.Lock()
	twice := 0
	for _, n := range keys {
		if n == 2 {
			twice++
		}
	}
	if bad > 0 || twice == 0 {
		t.Errorf("%d malformed requests, %d ids sent twice (want 0 and some)", bad, twice)
	}
	mu.Unlock()
	if sum := run(`, "successCodes": ["200-200"]`); sum.Requests == 0 || sum.Codes["error"] != sum.Requests {
		t.Errorf("201 outside the success codes must count as a failed request: summary %+v", sum)
	}
	if sum := run(``); sum.Codes["201"] != sum.Requests {
		t.Errorf("201 is in the default success codes 200-299: summary %+v", sum)
	}
	for _, s := range []string{`{"method": "GET", "succesCodes": [200]}`, `{"successCodes": [700]}`, `{"successCodes": ["299-200"]}`, `{"path": "kv"}`} {
		if _, err := ParseRequest(s); err == nil {
			t.Errorf("ParseRequest(%s) accepted", s)
		}
	}
}
