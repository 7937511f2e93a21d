package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// tokenTransport adds the API server's bearer token to every request, to
// whatever host it goes, as rest.HTTPClientFor's transport does.
type tokenTransport struct{ rt http.RoundTripper }

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer manager-token")
	return t.rt.RoundTrip(r)
}

// With --scrape-via=apiserver, a pod whose answer, through the API
// server's pod proxy, is a 307 to another host sends neither the scraper
// nor the residue check there: the other host gets no request (and so no
// token), and the read fails naming the status.
func TestPodProxyFollowsNoRedirect(t *testing.T) {
	var hits, tokens atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "" {
			tokens.Add(1)
		}
	}))
	defer other.Close()
	apiserver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer manager-token" || !strings.Contains(r.URL.Path, "/proxy/") {
			http.Error(w, "unexpected", http.StatusForbidden)
			return
		}
		// The pod's answer, passed on by the proxy.
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer apiserver.Close()

	proxy := &PodProxy{Host: apiserver.URL, Client: &http.Client{Transport: tokenTransport{http.DefaultTransport}}}
	victim := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "drills", Name: "orders-0"}}
	daemon := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos-mesh", Name: "chaos-daemon-x"}}
	ctx := context.Background()

	// The scraper, as the manager wires it (observe.WithHTTPClient of the
	// proxy's client).
	s := observe.NewScraper(observe.WithHTTPClient(proxy.Client))
	sm := s.Scrape(ctx, 0, observe.Target{Name: victim.Name, AdminURL: podURL(proxy, victim, AdminPort)}, true)
	if sm.Up || !strings.Contains(sm.Error, "307") {
		t.Errorf("scrape: up %v, error %q; want a failure naming 307", sm.Up, sm.Error)
	}
	// The residue check's read of chaos-daemon's gauges.
	err := readDaemon(ctx, proxy.httpClient(residueHTTP), podURL(proxy, daemon, daemonMetricsPort)+"/metrics", "drills", map[string]*podNet{})
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("residue read: %v; want a failure naming 307", err)
	}
	// Direct (no proxy): the residue check's own client.
	pod := httptest.NewServer(http.RedirectHandler(other.URL+"/elsewhere", http.StatusFound))
	defer pod.Close()
	err = readDaemon(ctx, (*PodProxy)(nil).httpClient(residueHTTP), pod.URL+"/metrics", "drills", map[string]*podNet{})
	if err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("direct residue read: %v; want a failure naming the status", err)
	}
	if hits.Load() != 0 || tokens.Load() != 0 {
		t.Errorf("the redirect's host got %d requests, %d with the token", hits.Load(), tokens.Load())
	}
}
