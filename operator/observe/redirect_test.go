package observe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// elsewhere is a server a redirect points to; it counts the requests
// that reach it.
func elsewhere(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("# TYPE go_goroutines gauge\ngo_goroutines 1\n"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// bearer adds a token to every request, as client-go's transport for an
// API server does (to whatever host the request goes).
type bearer struct{ rt http.RoundTripper }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer s3cret")
	return b.rt.RoundTrip(r)
}

// A target answering 307 to another server is a failed scrape naming the
// status; the other server is never asked — with the scraper's own client
// and with one given to it (the pod proxy's, which carries a token).
func TestScrapeFollowsNoRedirect(t *testing.T) {
	other, hits := elsewhere(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer target.Close()

	given := &http.Client{Transport: bearer{http.DefaultTransport}}
	for name, s := range map[string]*Scraper{
		"own client":   NewScraper(),
		"given client": NewScraper(WithHTTPClient(given)),
	} {
		t.Run(name, func(t *testing.T) {
			sm := s.Scrape(context.Background(), 0, Target{Name: "orders-0", AdminURL: target.URL}, true)
			if sm.Up || !strings.Contains(sm.Error, "307") || !strings.Contains(sm.Error, "not followed") {
				t.Errorf("scrape: up %v, error %q; want a failure naming 307", sm.Up, sm.Error)
			}
			if _, err := s.Leaks(context.Background(), Target{AdminURL: target.URL}); err == nil || !strings.Contains(err.Error(), "307") {
				t.Errorf("leaks: %v; want a failure naming 307", err)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the redirect's target was asked %d times", n)
			}
		})
	}
	if given.CheckRedirect != nil {
		t.Error("WithHTTPClient changed the caller's client")
	}
}
