package kube

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// hostileHeapBound is the most the manager's heap may grow while it reads
// hostile targets.
const hostileHeapBound = 128 << 20

// heapGrowth runs f and returns the largest growth of HeapInuse over the
// level before it, sampled every 5 ms while f runs and once after.
func heapGrowth(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
			peak.Store(m.HeapInuse - base)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	sample()
	return peak.Load()
}

// linesHandler serves a text exposition whose lines line(i) writes, for i
// from 0 to n, streamed (never held whole), stopping when the client goes.
func linesHandler(head string, n int, line func(w *bufio.Writer, i int)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(head)
		for i := 0; i < n && r.Context().Err() == nil; i++ {
			line(bw, i)
		}
		bw.Flush()
	}
}

// scrapeAt scrapes n targets at srv at once, as one tick of a drill with
// n processes, and returns their samples and the heap growth.
func scrapeAt(t *testing.T, srv *httptest.Server, n int, opts ...observe.ScrapeOption) ([]observe.Sample, uint64) {
	t.Helper()
	targets := make([]observe.Target, n)
	for i := range targets {
		targets[i] = observe.Target{Name: fmt.Sprintf("t%d", i), AdminURL: srv.URL}
	}
	s := observe.NewScraper(append([]observe.ScrapeOption{observe.WithTimeout(10 * time.Second), observe.WithLeakEvery(0)}, opts...)...)
	defer s.CloseIdleConnections()
	var out []observe.Sample
	grew := heapGrowth(func() { out = s.ScrapeAll(context.Background(), 0, targets) })
	t.Logf("heap growth %.1f MiB scraping %d targets at once", float64(grew)/(1<<20), n)
	if grew > hostileHeapBound {
		t.Errorf("heap grew %.1f MiB, want at most %d MiB", float64(grew)/(1<<20), hostileHeapBound>>20)
	}
	return out, grew
}

// TestHostileTarget: what the pods the manager reads serve cannot exhaust
// its memory, hold it, send it elsewhere, or pass for chaos-daemon.
// Sixteen targets are read at once, as a drill's scraper does.
func TestHostileTarget(t *testing.T) {
	const at = 16
	t.Run("16MiBBody", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("# TYPE go_goroutines gauge\ngo_goroutines 42\n# TYPE go_filler gauge\n")
		pad := strings.Repeat("x", 70)
		for i := 0; b.Len() < 16<<20-100; i++ {
			fmt.Fprintf(&b, "go_filler{pad=%q,i=\"%07d\"} 1\n", pad, i)
		}
		body := []byte(b.String()) // made once, before the heap is measured
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.Write(body)
		}))
		defer srv.Close()
		samples, _ := scrapeAt(t, srv, at)
		for _, s := range samples {
			if !s.Up || s.Goroutines != 42 {
				t.Fatalf("sample %s: up %v, goroutines %v, error %q: want the whole %d-byte body read", s.Target, s.Up, s.Goroutines, s.Error, len(body))
			}
		}
	})
	t.Run("MillionSeries", func(t *testing.T) {
		srv := httptest.NewServer(linesHandler("# TYPE http_requests_total counter\n", 1_000_000, func(w *bufio.Writer, i int) {
			fmt.Fprintf(w, "http_requests_total{code=\"200\",handler=\"h%07d\"} 1\n", i)
		}))
		defer srv.Close()
		samples, _ := scrapeAt(t, srv, at)
		for _, s := range samples {
			if s.Up || !strings.Contains(s.Error, "more than 200000 series") {
				t.Fatalf("sample %s: up %v, error %q: want the scrape refused beyond 200000 series", s.Target, s.Up, s.Error)
			}
		}
	})
	t.Run("100kUpstreams", func(t *testing.T) {
		srv := httptest.NewServer(linesHandler("# TYPE http_client_requests_total counter\n", 100_000, func(w *bufio.Writer, i int) {
			fmt.Fprintf(w, "http_client_requests_total{code=\"200\",method=\"post\",upstream=\"u%06d\"} 1\n", i)
		}))
		defer srv.Close()
		samples, _ := scrapeAt(t, srv, at)
		for _, s := range samples {
			if !s.Up || len(s.Upstream) != observe.DefaultLimits.MaxUpstreams+1 || s.Upstream[observe.OtherLabel].Requests["200"] != 100_000-float64(observe.DefaultLimits.MaxUpstreams) {
				t.Fatalf("sample %s: up %v (%s), %d upstreams: want %d and %q holding the rest", s.Target, s.Up, s.Error, len(s.Upstream), observe.DefaultLimits.MaxUpstreams, observe.OtherLabel)
			}
			if !strings.Contains(strings.Join(s.Notes, "; "), "folded") {
				t.Fatalf("notes %q: want the fold said", s.Notes)
			}
		}
	})
	t.Run("SlowLoris", func(t *testing.T) {
		var gone atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.Write([]byte("go_goroutines 1\ngo_"))
			for r.Context().Err() == nil {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
			gone.Add(1)
		}))
		defer srv.Close()
		samples, _ := scrapeAt(t, srv, at, observe.WithTimeout(time.Second))
		for _, s := range samples {
			if s.Up || !strings.Contains(s.Error, "deadline exceeded") {
				t.Fatalf("sample %s: up %v, error %q: want the read cut at the scrape timeout", s.Target, s.Up, s.Error)
			}
		}
		srv.Close() // waits for the handlers: each saw its client go
		if gone.Load() != at {
			t.Errorf("%d of %d connections closed by the scraper", gone.Load(), at)
		}
	})
	t.Run("RedirectToAnotherHost", func(t *testing.T) {
		var hits atomic.Int64
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		defer other.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		samples, _ := scrapeAt(t, srv, at, observe.WithLeakEvery(1))
		for _, s := range samples {
			if s.Up || !strings.Contains(s.Error, "307") {
				t.Fatalf("sample %s: up %v, error %q: want a failed scrape naming the 307", s.Target, s.Up, s.Error)
			}
		}
		observe.NewScraper().LeaksAll(context.Background(), []observe.Target{{Name: "t", AdminURL: srv.URL}}, func(observe.Target, observe.LeakReport) {
			t.Error("a leak report was read through a redirect")
		})
		if n := hits.Load(); n != 0 {
			t.Errorf("the redirect target got %d requests, want none", n)
		}
	})
	t.Run("FakeChaosDaemon", func(t *testing.T) { hostileDaemons(t) })
}

// hostileDaemons: a pod labelled like chaos-daemon outside Chaos Mesh's
// namespace, or one in it that no DaemonSet controls, is never read; the
// real daemon is, and its body is scanned within bounds.
func hostileDaemons(t *testing.T) {
	_, c := testenv.Start(t)
	ctx := context.Background()
	forged := "# TYPE chaos_daemon_tcs_rules gauge\nchaos_daemon_tcs_rules{namespace=\"drills\",pod=\"ledger-a\"} 9\n"
	var fakeHits, realHits atomic.Int64
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fakeHits.Add(1)
		w.Write([]byte(forged))
	}))
	defer fake.Close()
	var huge atomic.Bool
	real := httptest.NewServer(linesHandler("", 0, nil))
	real.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		realHits.Add(1)
		if !huge.Load() {
			w.Write([]byte("chaos_daemon_tcs_rules{namespace=\"drills\",pod=\"ledger-a\"} 2\n"))
			return
		}
		linesHandler("", 1_000_000, func(w *bufio.Writer, i int) {
			fmt.Fprintf(w, "chaos_daemon_iptables_packets{namespace=\"drills\",pod=\"ledger-a\",table=\"filter\",chain=\"C%07d\",rule=\"-j DROP\"} 1\n", i)
		})(w, r)
	})
	defer real.Close()

	for _, ns := range []string{DefaultChaosMeshNamespace, "team-x"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: DefaultChaosMeshNamespace, Name: "chaos-daemon"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{DaemonComponentLabel: daemonComponent}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{DaemonComponentLabel: daemonComponent}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "d", Image: "d"}}},
			},
		},
	}
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	owned := []metav1.OwnerReference{*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))}
	daemonPod(t, c, "team-x", "forged-elsewhere", fake.URL, owned) // a DaemonSet-like owner, wrong namespace
	daemonPod(t, c, DefaultChaosMeshNamespace, "forged-bare", fake.URL, nil)
	daemonPod(t, c, DefaultChaosMeshNamespace, "chaos-daemon-a", real.URL, owned)

	got, n, err := daemonNet(ctx, c, DefaultChaosMeshNamespace, "drills", nil, residueHTTP)
	if err != nil || n != 1 {
		t.Fatalf("daemonNet: %d daemons, %v; want the real one", n, err)
	}
	if fakeHits.Load() != 0 || realHits.Load() != 1 {
		t.Errorf("reads: %d of the forged daemons, %d of the real one; want 0 and 1", fakeHits.Load(), realHits.Load())
	}
	if got["ledger-a"] == nil || got["ledger-a"].tc != 2 {
		t.Errorf("gauges %v, want the real daemon's tc 2, not the forged 9", got["ledger-a"])
	}

	huge.Store(true)
	var derr error
	grew := heapGrowth(func() { _, _, derr = daemonNet(ctx, c, DefaultChaosMeshNamespace, "drills", nil, residueHTTP) })
	t.Logf("heap growth %.1f MiB reading a daemon that serves a million series", float64(grew)/(1<<20))
	if derr == nil || !strings.Contains(derr.Error(), "series") || grew > hostileHeapBound {
		t.Errorf("a million-series daemon: %v, heap grew %.1f MiB; want refused beyond %d series within %d MiB", derr, float64(grew)/(1<<20), maxDaemonSeries, hostileHeapBound>>20)
	}
}

// daemonPod creates a running pod labelled like chaos-daemon whose metrics
// port is the server at url.
func daemonPod(t *testing.T, c client.Client, ns, name, url string, owners []metav1.OwnerReference) {
	t.Helper()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	p, _ := strconv.Atoi(port)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners,
			Labels: map[string]string{DaemonComponentLabel: daemonComponent}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "d", Image: "d",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(p)}}}}},
	}
	ctx := context.Background()
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: host}
	if err := c.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
}
