package observe

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// kind is what Parse does with one metric family.
type kind int

const (
	kindNone kind = iota
	kindGoroutines
	kindServerRequests
	kindClientRequests
	kindEdgeRequests
	kindCharges
	kindChargedCents
	kindDuplicateCharges
	kindDuplicateChargedCents
	kindInfo
	kindServerLatency // histograms from here on
	kindClientLatency
	kindEdgeLatency
)

func (k kind) histogram() bool { return k >= kindServerLatency }

// kinds maps the families Parse reads to what it does with them; every
// other family is skipped (the Go and process collectors' dozens).
var kinds = map[string]kind{
	MetricGoroutines: kindGoroutines, MetricServerRequests: kindServerRequests,
	MetricClientRequests: kindClientRequests, MetricEdgeRequests: kindEdgeRequests,
	MetricCharges: kindCharges, MetricChargedCents: kindChargedCents,
	MetricDuplicateCharges: kindDuplicateCharges, MetricDuplicateChargedCents: kindDuplicateChargedCents,
	MetricInfo: kindInfo, MetricServerLatency: kindServerLatency,
	MetricClientLatency: kindClientLatency, MetricEdgeLatency: kindEdgeLatency,
}

// labels are the label values Parse reads from a series.
type labels struct {
	code, handler, upstream, role string
}

// admin reports whether the series is the admin server's own (AdminHandlers).
func (l labels) admin() bool { return slices.Contains(AdminHandlers, l.handler) }

// histSum adds histograms: cumulative counts by upper bound, sum, count.
type histSum struct {
	byLE       map[float64]float64
	sum, count float64
	kept       bool
}

// edgeSum is one upstream's calls.
type edgeSum struct {
	requests map[string]float64
	latency  histSum
}

// aggregator adds series into a Sample as they are read, within Limits:
// what it keeps is bounded by the distinct codes, upstreams and buckets it
// allows, whatever the body holds.
type aggregator struct {
	lim            Limits
	s              *Sample
	server, client histSum
	edges          map[string]*edgeSum
	// notes counts what was cut or folded, by note.
	notes   map[string]int
	samples int
}

func newAggregator(lim Limits, s *Sample) *aggregator {
	return &aggregator{lim: lim, s: s, notes: map[string]int{}}
}

// note counts one cut or fold; the notes are bounded (a fixed set of texts).
func (a *aggregator) note(format string, args ...any) { a.notes[fmt.Sprintf(format, args...)]++ }

// cut bounds a label value's length.
func (a *aggregator) cut(name, v string) string {
	if len(v) <= a.lim.MaxLabelValue {
		return v
	}
	a.note("%s label values longer than %d bytes cut", name, a.lim.MaxLabelValue)
	return v[:a.lim.MaxLabelValue]
}

// key returns v, or OtherLabel when m already holds max keys and not v.
func key[V any](a *aggregator, m map[string]V, v string, max int, what string) string {
	if _, ok := m[v]; ok || len(m) < max {
		return v
	}
	a.note("%s beyond the first %d folded into %q", what, max, OtherLabel)
	return OtherLabel
}

// countInto adds v to m[code], bounding the codes.
func (a *aggregator) countInto(m map[string]float64, family, code string, v float64) {
	m[key(a, m, a.cut("code", code), a.lim.MaxCodes, family+" code values")] += v
}

// edge returns the edge of upstream u, bounding the upstreams.
func (a *aggregator) edge(u string) *edgeSum {
	if a.edges == nil {
		a.edges = map[string]*edgeSum{}
	}
	u = key(a, a.edges, a.cut("upstream", u), a.lim.MaxUpstreams, "series of upstream values")
	e := a.edges[u]
	if e == nil {
		e = &edgeSum{requests: map[string]float64{}}
		a.edges[u] = e
	}
	return e
}

// value adds one counter, gauge or untyped series.
func (a *aggregator) value(k kind, l labels, v float64) {
	s := a.s
	switch k {
	case kindGoroutines:
		s.Goroutines += v
	case kindServerRequests, kindClientRequests:
		m := &s.ServerRequests
		name := MetricServerRequests
		if k == kindClientRequests {
			m, name = &s.ClientRequests, MetricClientRequests
		}
		if *m == nil {
			*m = map[string]float64{}
		}
		if !l.admin() {
			a.countInto(*m, name, l.code, v)
		}
	case kindEdgeRequests:
		a.countInto(a.edge(l.upstream).requests, MetricEdgeRequests, l.code, v)
	case kindCharges:
		s.Charges += v
	case kindChargedCents:
		s.ChargedCents += v
	case kindDuplicateCharges:
		s.DuplicateCharges += v
	case kindDuplicateChargedCents:
		s.DuplicateChargedCents += v
	case kindInfo:
		if l.role != "" {
			s.Role = a.cut("role", l.role)
		}
	}
}

// hist returns the histogram a series of family k adds to, nil when the
// series is left out (the admin server's own requests).
func (a *aggregator) hist(k kind, l labels) *histSum {
	switch k {
	case kindServerLatency:
		if l.admin() {
			return nil
		}
		return &a.server
	case kindClientLatency:
		return &a.client
	case kindEdgeLatency:
		return &a.edge(l.upstream).latency
	}
	return nil
}

// bucket adds one cumulative bucket; a +Inf bucket is the count, added
// by total.
func (a *aggregator) bucket(h *histSum, le, c float64) {
	h.kept = true
	if math.IsInf(le, 1) {
		return
	}
	if h.byLE == nil {
		h.byLE = map[float64]float64{}
	}
	if _, ok := h.byLE[le]; !ok && len(h.byLE) >= a.lim.MaxBuckets {
		a.note("histogram bucket bounds beyond the first %d dropped", a.lim.MaxBuckets)
		return
	}
	h.byLE[le] += c
}

// total adds one series' sample sum and count.
func (a *aggregator) total(h *histSum, sum, count float64) {
	h.kept = true
	h.sum += sum
	h.count += count
}

// buckets is h's cumulative buckets with a +Inf bucket holding the count,
// sorted; nil when no series was kept.
func (h *histSum) buckets() []Bucket {
	if !h.kept {
		return nil
	}
	out := make([]Bucket, 0, len(h.byLE)+1)
	for le, c := range h.byLE {
		out = append(out, Bucket{UpperBound: le, Count: c})
	}
	out = append(out, Bucket{UpperBound: math.Inf(1), Count: h.count})
	sort.Slice(out, func(i, j int) bool { return out[i].UpperBound < out[j].UpperBound })
	return out
}

// finish writes the histograms, edges and notes into the Sample.
func (a *aggregator) finish() {
	s := a.s
	s.ServerLatency = a.server.buckets()
	s.ClientLatency = a.client.buckets()
	if a.edges != nil {
		s.Upstream = make(map[string]EdgeStats, len(a.edges))
		for u, e := range a.edges {
			es := EdgeStats{Requests: e.requests, Latency: e.latency.buckets()}
			if e.latency.kept {
				es.LatencySum, es.LatencyCount = e.latency.sum, e.latency.count
			}
			s.Upstream[u] = es
		}
	}
	s.Notes = nil
	for n, c := range a.notes {
		s.Notes = append(s.Notes, fmt.Sprintf("%s (%d series)", n, c))
	}
	sort.Strings(s.Notes)
}
