package kube

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A pod's URL is its IP, or the API server's pod proxy path for it; a bad
// --scrape-via value is refused naming the flag and the choices.
func TestPodURLAndScrapeVia(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "drills", Name: "orders-0"}, Status: corev1.PodStatus{PodIP: "10.244.0.7"}}
	if got := podURL(nil, p, 9090); got != "http://10.244.0.7:9090" {
		t.Errorf("direct: %s", got)
	}
	proxy := &PodProxy{Host: "https://10.244.0.1:6443/"}
	if got := podURL(proxy, p, 9090); got != "https://10.244.0.1:6443/api/v1/namespaces/drills/pods/orders-0:9090/proxy" {
		t.Errorf("through the API server: %s", got)
	}
	for in, want := range map[string]string{"": ScrapeDirect, "direct": ScrapeDirect, "apiserver": ScrapeAPIServer} {
		if got, err := ParseScrapeVia(in); err != nil || got != want {
			t.Errorf("ParseScrapeVia(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseScrapeVia("proxy"); err == nil || !strings.Contains(err.Error(), "--scrape-via") || !strings.Contains(err.Error(), "apiserver") {
		t.Errorf("ParseScrapeVia(proxy): %v", err)
	}
}
