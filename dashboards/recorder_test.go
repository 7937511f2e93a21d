package dashboards

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	prommodel "github.com/prometheus/common/model"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// recorder stands between Prometheus and one victim process: each scrape
// Prometheus makes is fetched from the process's /metrics, recorded and
// passed on, so the engine can later be fed exactly the bytes Prometheus
// stored.
type recorder struct {
	name, role string
	metricsURL string // the process's /metrics
	addr       string // where Prometheus scrapes the recorder

	mu       sync.Mutex
	scrapes  []scrape
	instance string // the process behind name now (its PID)
	restarts int32  // times the process behind name was replaced
}

// scrape is one exposition Prometheus asked for.
type scrape struct {
	at          time.Time // when Prometheus' request arrived
	body        []byte
	contentType string
	err         string // why the process could not be read, if it could not
	instance    string
	restarts    int32
	promAt      time.Time // Prometheus' timestamp for it (zero until matched)
	promUp      bool      // Prometheus' up for it
}

// scrapeAccept asks the process for the text format, as observe.Scraper
// does (Prometheus accepts it too), so observe.Parse reads what Prometheus read.
const scrapeAccept = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// newRecorder serves a recorder for the process whose admin server is at
// adminAddr, on a loopback port, until the test ends.
func newRecorder(t *testing.T, name, role, adminAddr string, pid int) *recorder {
	t.Helper()
	r := &recorder{name: name, role: role, metricsURL: "http://" + adminAddr + "/metrics", instance: strconv.Itoa(pid)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s := scrape{at: time.Now()}
		// Below Prometheus' 1 s scrape timeout, so a process too slow to
		// answer is a failed scrape on both sides.
		ctx, cancel := context.WithTimeout(req.Context(), 800*time.Millisecond)
		defer cancel()
		s.body, s.contentType, s.err = fetch(ctx, client, r.metricsURL)
		r.mu.Lock()
		s.instance, s.restarts = r.instance, r.restarts
		r.scrapes = append(r.scrapes, s)
		r.mu.Unlock()
		if s.err != "" {
			http.Error(w, s.err, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", s.contentType)
		w.Write(s.body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); client.CloseIdleConnections() })
	return r
}

func fetch(ctx context.Context, client *http.Client, u string) ([]byte, string, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err.Error()
	}
	req.Header.Set("Accept", scrapeAccept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, "", err.Error()
	case resp.StatusCode != http.StatusOK:
		return nil, "", resp.Status
	}
	return body, resp.Header.Get("Content-Type"), ""
}

// replaced records that a new process (pid) now runs behind the name.
func (r *recorder) replaced(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.instance, r.restarts = strconv.Itoa(pid), r.restarts+1
}

// count is the number of scrapes that read the process.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.scrapes {
		if s.err == "" {
			n++
		}
	}
	return n
}

// match stamps the recorded scrapes with Prometheus' timestamps and up
// values (points of up for this target): each point takes the nearest
// scrape that arrived from 100 ms before to 1 s after it. It returns the
// matched scrapes in time order and the points no scrape matched.
func (r *recorder) match(points []promPoint) ([]scrape, []promPoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	used := make([]bool, len(r.scrapes))
	var out []scrape
	var missed []promPoint
	for _, p := range points {
		best := -1
		for i, s := range r.scrapes {
			d := s.at.Sub(p.At)
			if used[i] || d < -100*time.Millisecond || d > time.Second {
				continue
			}
			if best < 0 || d.Abs() < r.scrapes[best].at.Sub(p.At).Abs() {
				best = i
			}
		}
		if best < 0 {
			missed = append(missed, p)
			continue
		}
		used[best] = true
		s := r.scrapes[best]
		s.promAt, s.promUp = p.At, p.Value == 1
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].promAt.Before(out[j].promAt) })
	return out, missed
}

// sample turns a matched scrape into what the engine's driver would have
// built from it (observe.Scraper without the leak report). A scrape
// Prometheus stored as down is down for the engine too.
func (r *recorder) sample(t *testing.T, s scrape, at time.Duration) observe.Sample {
	t.Helper()
	out := observe.Sample{Leaked: -1}
	if s.err == "" && s.promUp {
		var err error
		if out, err = observe.Parse(bytes.NewReader(s.body), s.contentType); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		out.Up = true
	} else {
		out.Error = "scrape failed: " + s.err
	}
	out.Target, out.Role, out.At, out.Leaked = r.name, r.role, at, -1
	out.Instance, out.Restarts = s.instance, s.restarts
	return out
}

// seriesKeys lists the series of the families the compared signals read,
// by family: the family's labels as text, admin handlers left out (as
// observe.Parse leaves them out).
func seriesKeys(t *testing.T, body []byte) map[string]map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(prommodel.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, name := range []string{observe.MetricClientRequests, observe.MetricClientLatency, observe.MetricServerRequests, observe.MetricServerLatency} {
		out[name] = map[string]bool{}
		for _, m := range mfs[name].GetMetric() {
			var labels []string
			admin := false
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
				admin = admin || (l.GetName() == "handler" && slices.Contains(observe.AdminHandlers, l.GetValue()))
			}
			if !admin {
				out[name]["{"+strings.Join(labels, ",")+"}"] = true
			}
		}
	}
	return out
}

// allRead reports whether every target had a scrape stored as up at or
// before at.
func allRead(scrapes [][]scrape, at time.Time) bool {
	for _, ss := range scrapes {
		if !slices.ContainsFunc(ss, func(s scrape) bool { return s.promUp && !s.promAt.After(at) }) {
			return false
		}
	}
	return true
}

// appeared lists, by metric, the series in cur that prev did not have.
func appeared(prev, cur map[string]map[string]bool) map[string][]string {
	out := map[string][]string{}
	for name, keys := range cur {
		for k := range keys {
			if !prev[name][k] {
				out[name] = append(out[name], k)
			}
		}
	}
	return out
}
