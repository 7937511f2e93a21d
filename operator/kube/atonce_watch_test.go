package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// chaosSeen is when a watch first saw a PodChaos in each namespace, and
// when it first saw one with AllInjected true (Chaos Mesh's
// acknowledgement).
type chaosSeen struct {
	mu       sync.Mutex
	created  map[string]time.Time
	injected map[string]time.Time
}

func (s *chaosSeen) at(ns string) (created, injected time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created[ns], s.injected[ns]
}

// watchChaosCreated watches PodChaos objects in every namespace until ctx
// ends and records when each namespace's first one was seen, and injected.
func watchChaosCreated(ctx context.Context, b *testing.B, c client.WithWatch) *chaosSeen {
	w, err := c.Watch(ctx, &chaosv1alpha1.PodChaosList{})
	if err != nil {
		b.Fatal(err)
	}
	s := &chaosSeen{created: map[string]time.Time{}, injected: map[string]time.Time{}}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			now := time.Now()
			pc, ok := ev.Object.(*chaosv1alpha1.PodChaos)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			s.mu.Lock()
			if _, seen := s.created[pc.Namespace]; !seen && ev.Type == watch.Added {
				s.created[pc.Namespace] = now
			}
			for _, c := range pc.Status.Conditions {
				if _, seen := s.injected[pc.Namespace]; !seen && c.Type == chaosv1alpha1.ConditionAllInjected && c.Status == corev1.ConditionTrue {
					s.injected[pc.Namespace] = now
				}
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// requestCounter counts the requests a client sends, by verb and path.
type requestCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.Method + " " + r.URL.Path
	if parts := strings.Split(r.URL.Path, "/"); len(parts) > 2 {
		// /api(s)/…/namespaces/NS/KIND[/NAME[/SUB]]: the kind and subresource
		for i := range parts {
			if parts[i] == "namespaces" && i+2 < len(parts) {
				key = r.Method + " " + parts[i+2]
				if i+4 < len(parts) {
					key += "/" + parts[i+4]
				}
			}
		}
	}
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// take returns the counts since the last take.
func (c *requestCounter) take() (total int, top string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range c.n {
		total += n
		all = append(all, kv{k, n})
	}
	slices.SortFunc(all, func(a, b kv) int { return b.n - a.n })
	for i, e := range all[:min(len(all), 6)] {
		if i > 0 {
			top += ", "
		}
		top += fmt.Sprintf("%s %d", e.k, e.n)
	}
	c.n = map[string]int{}
	return total, top
}
