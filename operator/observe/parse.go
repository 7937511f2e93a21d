package observe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Metric names read from a victim's /metrics. They are part of the victim's
// contract (see DESIGN.md) and shared with the PromQL in operator/engine.
const (
	MetricGoroutines            = "go_goroutines"
	MetricServerRequests        = "http_requests_total"
	MetricServerLatency         = "http_request_duration_seconds"
	MetricInfo                  = "victim_info"
	MetricCharges               = "victim_charges_total"
	MetricChargedCents          = "victim_charged_cents_total"
	MetricDuplicateCharges      = "victim_duplicate_charges_total"
	MetricDuplicateChargedCents = "victim_duplicate_charged_cents_total"
	MetricClientRequests        = "loadgen_requests_total"
	MetricClientLatency         = "loadgen_request_duration_seconds"
	// MetricEdgeRequests and MetricEdgeLatency are the callers' per-edge
	// client metrics, labelled upstream, code and method (Sample.Upstream).
	MetricEdgeRequests = "http_client_requests_total"
	MetricEdgeLatency  = "http_client_request_duration_seconds"
)

// CodeError is the code label of a client call that got no response, in
// loadgen_requests_total and http_client_requests_total.
const CodeError = "error"

// AdminHandlers are the values of the handler label that belong to the
// admin server (probes and reports), not to the payment path. Parse leaves
// them out of ServerRequests and ServerLatency: a /readyz answering 503
// while a process starts is not a failed payment.
var AdminHandlers = []string{"readyz", "healthz", "goleak", "metrics"}

// maxMetricsBytes bounds how much of a /metrics body is read.
const maxMetricsBytes = 16 << 20

// Parse reads one exposition (Prometheus text, OpenMetrics or delimited
// protobuf, as named by contentType; text when it is empty or unknown) and
// returns a Sample with its metric fields filled in: Target, Role, At, Up
// and the leak fields are left to the caller (Leaked is -1). Counters are
// summed over their labels as the Sample fields describe. Role is taken from
// victim_info{role} when present.
func Parse(r io.Reader, contentType string) (Sample, error) {
	s := Sample{Leaked: -1}
	format := expfmt.FmtText
	if contentType != "" {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		if f := expfmt.ResponseFormat(h); f.FormatType() != expfmt.TypeUnknown {
			format = f
		}
	}
	r = io.LimitReader(r, maxMetricsBytes)
	if format.FormatType() == expfmt.TypeProtoDelim {
		return s, parseDelimited(r, &s)
	}
	dec := expfmt.NewDecoder(r, format)
	found := false
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, fmt.Errorf("parse metrics: %w", err)
		}
		found = true
		s.add(&mf)
	}
	if !found {
		return s, errors.New("parse metrics: no metric families")
	}
	return s, nil
}

// wanted are the families Sample.add reads; parseDelimited decodes only
// these and skips the rest (the Go and process collectors' dozens of
// families) without unmarshalling them.
var wanted = map[string]bool{
	MetricGoroutines: true, MetricServerRequests: true, MetricServerLatency: true, MetricClientRequests: true,
	MetricClientLatency: true, MetricEdgeRequests: true, MetricEdgeLatency: true, MetricCharges: true,
	MetricChargedCents: true, MetricDuplicateCharges: true, MetricDuplicateChargedCents: true, MetricInfo: true,
}

// parseDelimited reads a length-delimited protobuf exposition (what
// promhttp serves to a scraper that prefers it, as Prometheus does), one
// MetricFamily per message, unmarshalling only the wanted ones: a family's
// name is its first field, read without decoding the rest.
func parseDelimited(r io.Reader, s *Sample) error {
	br := bufio.NewReader(r)
	var buf []byte
	found := false
	for {
		n, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("parse metrics: %w", err)
		}
		if n > maxMetricsBytes {
			return fmt.Errorf("parse metrics: a %d-byte metric family", n)
		}
		buf = slices.Grow(buf[:0], int(n))[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("parse metrics: %w", err)
		}
		found = true
		name := familyName(buf)
		if name == "" {
			return errors.New("parse metrics: a metric family without a name (not a MetricFamily stream?)")
		}
		if !wanted[name] {
			continue
		}
		var mf dto.MetricFamily
		if err := proto.Unmarshal(buf, &mf); err != nil {
			return fmt.Errorf("parse metrics: %w", err)
		}
		s.add(&mf)
	}
	if !found {
		return errors.New("parse metrics: no metric families")
	}
	return nil
}

// familyName is field 1 (name) of an encoded MetricFamily, "" if absent
// or malformed.
func familyName(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return ""
			}
			return string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}

func (s *Sample) add(mf *dto.MetricFamily) {
	switch mf.GetName() {
	case MetricGoroutines:
		s.Goroutines = sumValues(mf)
	case MetricServerRequests:
		s.ServerRequests = sumByLabel(mf, "code", s.ServerRequests)
	case MetricServerLatency:
		s.ServerLatency = sumBuckets(mf, true)
	case MetricClientRequests:
		s.ClientRequests = sumByLabel(mf, "code", s.ClientRequests)
	case MetricClientLatency:
		s.ClientLatency = sumBuckets(mf, false)
	case MetricEdgeRequests:
		s.addEdgeRequests(mf)
	case MetricEdgeLatency:
		s.addEdgeLatency(mf)
	case MetricCharges:
		s.Charges = sumValues(mf)
	case MetricChargedCents:
		s.ChargedCents = sumValues(mf)
	case MetricDuplicateCharges:
		s.DuplicateCharges = sumValues(mf)
	case MetricDuplicateChargedCents:
		s.DuplicateChargedCents = sumValues(mf)
	case MetricInfo:
		for _, m := range mf.GetMetric() {
			if v := label(m, "role"); v != "" {
				s.Role = v
			}
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func isAdmin(m *dto.Metric) bool {
	h := label(m, "handler")
	for _, a := range AdminHandlers {
		if h == a {
			return true
		}
	}
	return false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func sumValues(mf *dto.MetricFamily) float64 {
	var t float64
	for _, m := range mf.GetMetric() {
		t += value(m)
	}
	return t
}

func sumByLabel(mf *dto.MetricFamily, name string, into map[string]float64) map[string]float64 {
	if into == nil {
		into = map[string]float64{}
	}
	for _, m := range mf.GetMetric() {
		if isAdmin(m) {
			continue
		}
		into[label(m, name)] += value(m)
	}
	return into
}

// sumBuckets adds the cumulative buckets of every series of a histogram,
// with a +Inf bucket holding the total count.
func sumBuckets(mf *dto.MetricFamily, skipAdmin bool) []Bucket {
	b, _, _ := sumHistograms(mf.GetMetric(), func(m *dto.Metric) bool { return !skipAdmin || !isAdmin(m) })
	return b
}

// sumHistograms adds the histograms of the series that keep accepts: their
// cumulative buckets (with a +Inf bucket holding the total count, nil when
// no series was kept), sum and count.
func sumHistograms(ms []*dto.Metric, keep func(*dto.Metric) bool) (buckets []Bucket, sum, count float64) {
	byLE := map[float64]float64{}
	n := 0
	for _, m := range ms {
		h := m.GetHistogram()
		if h == nil || !keep(m) {
			continue
		}
		n++
		for _, b := range h.GetBucket() {
			byLE[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
		count += float64(h.GetSampleCount())
		sum += h.GetSampleSum()
	}
	if n == 0 {
		return nil, 0, 0
	}
	byLE[math.Inf(1)] = count
	out := make([]Bucket, 0, len(byLE))
	for le, c := range byLE {
		out = append(out, Bucket{UpperBound: le, Count: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpperBound < out[j].UpperBound })
	return out, sum, count
}

// addEdgeRequests adds http_client_requests_total to Upstream, by upstream
// and code.
func (s *Sample) addEdgeRequests(mf *dto.MetricFamily) {
	for _, m := range mf.GetMetric() {
		e := s.edge(label(m, "upstream"))
		e.Requests[label(m, "code")] += value(m)
		s.Upstream[label(m, "upstream")] = e
	}
}

// addEdgeLatency sets the latency fields of Upstream from
// http_client_request_duration_seconds, every code and method of an
// upstream together.
func (s *Sample) addEdgeLatency(mf *dto.MetricFamily) {
	ups := map[string]bool{}
	for _, m := range mf.GetMetric() {
		ups[label(m, "upstream")] = true
	}
	for u := range ups {
		e := s.edge(u)
		e.Latency, e.LatencySum, e.LatencyCount = sumHistograms(mf.GetMetric(),
			func(m *dto.Metric) bool { return label(m, "upstream") == u })
		s.Upstream[u] = e
	}
}

// edge returns Upstream[u], creating the map and its Requests as needed.
func (s *Sample) edge(u string) EdgeStats {
	if s.Upstream == nil {
		s.Upstream = map[string]EdgeStats{}
	}
	e := s.Upstream[u]
	if e.Requests == nil {
		e.Requests = map[string]float64{}
	}
	return e
}

// MeanLatency is LatencySum/LatencyCount in seconds; ok is false when no
// call was timed.
func (e EdgeStats) MeanLatency() (seconds float64, ok bool) {
	if e.LatencyCount <= 0 {
		return 0, false
	}
	return e.LatencySum / e.LatencyCount, true
}

// FormatRatio formats a ratio as the decimal string used in status, such as
// "0.4213".
func FormatRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}
