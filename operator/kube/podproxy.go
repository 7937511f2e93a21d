package kube

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// ScrapeVia values: how the manager reaches the pods it scrapes (the
// victim's admin servers, chaos-daemon's metrics).
const (
	// ScrapeDirect dials each pod's IP: the default, for a manager in the
	// cluster.
	ScrapeDirect = "direct"
	// ScrapeAPIServer goes through the API server's pod proxy
	// (GET /api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH): for a manager
	// run outside the cluster (`go run ./operator/cmd/manager --kubeconfig
	// …` against kind on Docker Desktop, where pod IPs are not reachable
	// from the host). The kubeconfig's user needs `get` on pods/proxy in
	// the drill namespaces and, for the residue check, in Chaos Mesh's.
	ScrapeAPIServer = "apiserver"
)

// PodProxy reaches pods through the API server's pod proxy.
type PodProxy struct {
	// Host is the API server's base URL (rest.Config.Host).
	Host string
	// Client is an HTTP client authenticated to the API server
	// (rest.HTTPClientFor). The manager uses copies of it that follow no
	// redirect.
	Client *http.Client
}

// ParseScrapeVia checks a --scrape-via value.
func ParseScrapeVia(s string) (string, error) {
	switch s {
	case "", ScrapeDirect:
		return ScrapeDirect, nil
	case ScrapeAPIServer:
		return ScrapeAPIServer, nil
	}
	return "", fmt.Errorf("--scrape-via %q: want %s (dial pod IPs, in the cluster) or %s (through the API server's pod proxy, outside it)", s, ScrapeDirect, ScrapeAPIServer)
}

// podURL is the base URL of a pod's port: http://IP:PORT, or the pod
// proxy's URL for it when proxy is set.
func podURL(proxy *PodProxy, p *corev1.Pod, port int) string {
	if proxy == nil {
		return "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port))
	}
	return strings.TrimRight(proxy.Host, "/") + "/api/v1/namespaces/" + url.PathEscape(p.Namespace) +
		"/pods/" + url.PathEscape(p.Name) + ":" + strconv.Itoa(port) + "/proxy"
}

// httpClient is the client for pod URLs: the proxy's, or def, either
// following no redirect (observe.NoRedirect): the proxy's client sends
// the API server's bearer token with every request, to whatever host a
// redirect names.
func (proxy *PodProxy) httpClient(def *http.Client) *http.Client {
	if proxy == nil || proxy.Client == nil {
		return observe.WithoutRedirects(def)
	}
	return observe.WithoutRedirects(proxy.Client)
}
