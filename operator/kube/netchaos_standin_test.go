package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/kube"
	"github.com/cascadelab/cascadelab/operator/local"
)

// ProxyEdge is one service-to-service connection of the kubelet stand-in
// (KubeletOptions.ProxyEdges): the container of pod Client reaches the
// server pod listening on ServerPort (its app port, which a pod-kill
// replacement reuses) through Proxy.
type ProxyEdge struct {
	Client, ClientRole string
	ServerRole         string
	ServerPort         string
	Proxy              *toxiproxy.Proxy
}

// URL is the base URL the client uses to reach the server.
func (e *ProxyEdge) URL() string { return "http://" + e.Proxy.Listen }

func (e *ProxyEdge) String() string {
	return fmt.Sprintf("%s(%s)->%s:%s", e.Client, e.ClientRole, e.ServerRole, e.ServerPort)
}

// proxyEdges is the kubelet stand-in's in-process toxiproxy server and its
// proxies, keyed by client pod and server port.
type proxyEdges struct {
	srv   *toxiproxy.ApiServer
	mu    sync.Mutex
	edges map[string]*ProxyEdge
}

func newProxyEdges() *proxyEdges {
	return &proxyEdges{
		srv:   toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		edges: map[string]*ProxyEdge{},
	}
}

// route returns the URLs through which client pod p reaches urls
// ("http://127.0.0.1:PORT"), starting a proxy per server port when needed.
// A proxy that cannot start leaves that URL direct (and logs nothing: the
// test then sees no effect and fails on that).
func (pe *proxyEdges) route(p *corev1.Pod, serverRole string, urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		_, port, _ := strings.Cut(strings.TrimPrefix(u, "http://"), ":")
		key := p.Name + "->" + port
		pe.mu.Lock()
		e := pe.edges[key]
		if e == nil {
			px := toxiproxy.NewProxy(pe.srv, key, "127.0.0.1:0", "127.0.0.1:"+port)
			if err := pe.srv.Collection.Add(px, true); err != nil {
				pe.mu.Unlock()
				out[i] = u
				continue
			}
			e = &ProxyEdge{Client: p.Name, ClientRole: p.Labels[kube.LabelComponent], ServerRole: serverRole, ServerPort: port, Proxy: px}
			pe.edges[key] = e
		}
		pe.mu.Unlock()
		out[i] = e.URL()
	}
	return out
}

// dropClient stops the proxies of a client pod that is gone.
func (pe *proxyEdges) dropClient(pod string) {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	for key, e := range pe.edges {
		if e.Client == pod {
			_ = pe.srv.Collection.Remove(e.Proxy.Name)
			delete(pe.edges, key)
		}
	}
}

func (pe *proxyEdges) list() []*ProxyEdge {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	out := make([]*ProxyEdge, 0, len(pe.edges))
	for _, e := range pe.edges {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Proxy.Name < out[j].Proxy.Name })
	return out
}

func (pe *proxyEdges) close() {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	_ = pe.srv.Collection.Clear()
	pe.edges = map[string]*ProxyEdge{}
}

// serviceRole is the victim role the Service of URL u selects.
func (k *KubeletStandIn) serviceRole(ctx context.Context, u string) string {
	host, _, _ := strings.Cut(strings.TrimPrefix(u, "http://"), ":")
	var svc corev1.Service
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: host}, &svc); err != nil {
		return ""
	}
	return svc.Spec.Selector[kube.LabelComponent]
}

// Edges returns the proxied service-to-service connections
// (KubeletOptions.ProxyEdges; none without it).
func (k *KubeletStandIn) Edges() []*ProxyEdge {
	if k.proxies == nil {
		return nil
	}
	return k.proxies.list()
}

// NetworkChaosStandIn stands in for Chaos Mesh's chaos-daemon for network
// faults. The real injection of a NetworkChaos needs chaos-daemon (tc and
// iptables in each pod's network namespace on the node), which cannot run
// here: with the real controller-manager a NetworkChaos is accepted,
// defaulted and recorded but fails with "cannot find daemonIP" and has no
// effect. This stand-in gives it its effect instead, the way the local
// backend (operator/local) does: for every NetworkChaos in its namespace it
// selects the pods (selector and target) among the kubelet stand-in's pods
// and adds the local backend's toxiproxy toxics (local.Toxics, with the
// direction and target semantics of local.Streams) to the proxied edges
// touching them (KubeletOptions.ProxyEdges must be on). It removes them when
// the NetworkChaos is deleted (or starts terminating) or its duration has
// passed since the stand-in first applied it. It re-evaluates every 50 ms,
// so edges of replacement pods get the faults too.
//
// It does not write the NetworkChaos's status: without the real Chaos Mesh
// the ChaosDaemonStandIn does; with it, Chaos Mesh records its own
// (failed) injection.
//
// Pod selection: namespaces (only this namespace is served), label and
// expression selectors, pods Running and not terminating; mode one picks
// the first by name, fixed N the first N, every other mode all of them.
type NetworkChaosStandIn struct {
	t       testing.TB
	c       client.Client
	ns      string
	kubelet *KubeletStandIn

	mu     sync.Mutex
	states map[types.UID]*ncState
	// Log records what the stand-in did, in order.
	Log []NetChaosEvent
}

// NetChaosEvent is one application or removal of a NetworkChaos's toxics.
type NetChaosEvent struct {
	Chaos  string
	Op     string // "apply" or "remove"
	Toxics []string
	At     time.Time
}

type ncState struct {
	name    string
	since   time.Time
	ended   bool
	applied map[string]*ProxyEdge // toxic name → edge
	err     string
}

// StartNetworkChaosStandIn runs the stand-in for namespace ns until the
// test ends; k must run with KubeletOptions.ProxyEdges.
func StartNetworkChaosStandIn(t testing.TB, c client.Client, ns string, k *KubeletStandIn) *NetworkChaosStandIn {
	if k.proxies == nil {
		t.Fatal("NetworkChaosStandIn needs the kubelet stand-in with KubeletOptions.ProxyEdges")
	}
	n := &NetworkChaosStandIn{t: t, c: c, ns: ns, kubelet: k, states: map[types.UID]*ncState{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := n.sync(ctx); err != nil && ctx.Err() == nil {
				t.Logf("network chaos stand-in: %v", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func (n *NetworkChaosStandIn) sync(ctx context.Context) error {
	var ncs chaosv1alpha1.NetworkChaosList
	var pods corev1.PodList
	if err := n.c.List(ctx, &ncs, client.InNamespace(n.ns)); err != nil {
		return err
	}
	if err := n.c.List(ctx, &pods, client.InNamespace(n.ns)); err != nil {
		return err
	}
	byPort := map[string]string{} // app port → live pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			byPort[p.Annotations[annotationAppPort]] = p.Name
		}
	}
	edges := n.kubelet.Edges()
	seen := map[types.UID]bool{}
	var errs []error
	for i := range ncs.Items {
		nc := &ncs.Items[i]
		seen[nc.UID] = true
		n.mu.Lock()
		st := n.states[nc.UID]
		if st == nil {
			st = &ncState{name: nc.Name, since: time.Now(), applied: map[string]*ProxyEdge{}}
			n.states[nc.UID] = st
		}
		n.mu.Unlock()
		if st.ended {
			continue
		}
		if nc.DeletionTimestamp != nil || expired(nc, st.since) {
			st.ended = true
			errs = append(errs, n.reconcile(ctx, st, nil))
			continue
		}
		want, err := n.desired(nc, pods.Items, byPort, edges)
		if err != nil {
			if st.err != err.Error() {
				st.err = err.Error()
				n.t.Logf("network chaos stand-in: %s: %v", nc.Name, err)
			}
			continue
		}
		errs = append(errs, n.reconcile(ctx, st, want))
	}
	n.mu.Lock()
	var gone []*ncState
	for uid, st := range n.states {
		if !seen[uid] {
			gone = append(gone, st)
			delete(n.states, uid)
		}
	}
	n.mu.Unlock()
	for _, st := range gone {
		errs = append(errs, n.reconcile(ctx, st, nil))
	}
	return errors.Join(errs...)
}

func expired(nc *chaosv1alpha1.NetworkChaos, since time.Time) bool {
	if nc.Spec.Duration == nil || *nc.Spec.Duration == "" {
		return false
	}
	d, err := time.ParseDuration(*nc.Spec.Duration)
	return err == nil && time.Since(since) >= d
}

type wantedToxic struct {
	edge *ProxyEdge
	spec local.Toxic
}

// desired returns the toxics nc calls for on the current edges, by name.
func (n *NetworkChaosStandIn) desired(nc *chaosv1alpha1.NetworkChaos, pods []corev1.Pod, byPort map[string]string, edges []*ProxyEdge) (map[string]wantedToxic, error) {
	specs, err := local.Toxics(&nc.Spec)
	if err != nil {
		return nil, err
	}
	sel, err := n.selectPods(nc.Spec.PodSelector, pods)
	if err != nil {
		return nil, err
	}
	var tgt map[string]bool
	if nc.Spec.Target != nil {
		if tgt, err = n.selectPods(*nc.Spec.Target, pods); err != nil {
			return nil, err
		}
	}
	dir := nc.Spec.Direction
	if dir == "" {
		dir = chaosv1alpha1.To
	}
	want := map[string]wantedToxic{}
	for _, e := range edges {
		server := byPort[e.ServerPort]
		streams := local.Streams(dir, sel[e.Client], sel[server], tgt != nil, tgt[e.Client], tgt[server])
		for _, stream := range streams {
			for _, ts := range specs {
				ts.Stream = stream
				ts.Name = fmt.Sprintf("nc-%s-%s-%s", string(nc.UID)[:8], ts.Type, stream)
				want[e.Proxy.Name+"/"+ts.Name] = wantedToxic{edge: e, spec: ts}
			}
		}
	}
	return want, nil
}

// reconcile makes st's applied toxics equal want (nil: remove them all).
func (n *NetworkChaosStandIn) reconcile(ctx context.Context, st *ncState, want map[string]wantedToxic) error {
	n.mu.Lock() // st.applied is read by Active
	defer n.mu.Unlock()
	var errs []error
	var added, removed []string
	for key, e := range st.applied {
		if _, ok := want[key]; ok {
			continue
		}
		_, name, _ := strings.Cut(key, "/")
		if err := e.Proxy.Toxics.RemoveToxic(ctx, name); err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
			errs = append(errs, fmt.Errorf("removing %s: %w", key, err))
			continue
		}
		delete(st.applied, key)
		removed = append(removed, key)
	}
	for key, w := range want {
		if _, ok := st.applied[key]; ok {
			continue
		}
		body, _ := json.Marshal(w.spec)
		if _, err := w.edge.Proxy.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
			errs = append(errs, fmt.Errorf("adding %s: %w", key, err))
			continue
		}
		st.applied[key] = w.edge
		added = append(added, key)
	}
	for _, ev := range []NetChaosEvent{{Chaos: st.name, Op: "remove", Toxics: removed}, {Chaos: st.name, Op: "apply", Toxics: added}} {
		if len(ev.Toxics) > 0 {
			sort.Strings(ev.Toxics)
			ev.At = time.Now()
			n.Log = append(n.Log, ev)
			n.t.Logf("network chaos stand-in: %s %s: %v", ev.Op, ev.Chaos, ev.Toxics)
		}
	}
	return errors.Join(errs...)
}

// selectPods selects the running pods of sel in the stand-in's namespace.
func (n *NetworkChaosStandIn) selectPods(sel chaosv1alpha1.PodSelector, pods []corev1.Pod) (map[string]bool, error) {
	s := sel.Selector
	if len(s.Namespaces) > 0 {
		ours := false
		for _, ns := range s.Namespaces {
			ours = ours || ns == n.ns
		}
		if !ours {
			return map[string]bool{}, nil
		}
	}
	ls, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: s.LabelSelectors, MatchExpressions: s.ExpressionSelectors})
	if err != nil {
		return nil, err
	}
	if ls.Empty() {
		ls = labels.Everything()
	}
	var names []string
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && ls.Matches(labels.Set(p.Labels)) {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	switch sel.Mode {
	case chaosv1alpha1.OneMode:
		names = names[:min(1, len(names))]
	case chaosv1alpha1.FixedMode:
		var k int
		if _, err := fmt.Sscan(sel.Value, &k); err == nil && k >= 0 {
			names = names[:min(k, len(names))]
		}
	}
	out := map[string]bool{}
	for _, name := range names {
		out[name] = true
	}
	return out, nil
}

// Active returns the number of toxics currently applied.
func (n *NetworkChaosStandIn) Active() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, st := range n.states {
		c += len(st.applied)
	}
	return c
}

// Events returns what the stand-in did so far.
func (n *NetworkChaosStandIn) Events() []NetChaosEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]NetChaosEvent(nil), n.Log...)
}
