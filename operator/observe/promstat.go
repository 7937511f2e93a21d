package observe

import (
	"encoding/json"
	"math"
	"sort"
)

// CounterDelta is how much a counter grew from prev to cur. A value lower
// than the previous one means the process restarted and the counter reset,
// so the delta is cur itself, as Prometheus' rate() assumes.
func CounterDelta(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// CounterDeltas applies CounterDelta to each key of cur. A key missing from
// prev counts from zero. When any key went down the whole set is treated as
// reset (a restarted process starts every series from zero).
func CounterDeltas(prev, cur map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(cur))
	reset := false
	for k, v := range cur {
		if v < prev[k] {
			reset = true
		}
	}
	for k, v := range cur {
		if reset {
			out[k] = v
		} else {
			out[k] = CounterDelta(prev[k], v)
		}
	}
	return out
}

// BucketsDelta is the growth of a cumulative histogram between two scrapes,
// bucket by bucket; a reset (the total went down) returns cur. Buckets are
// matched by upper bound; bounds missing from prev count from zero.
func BucketsDelta(prev, cur []Bucket) []Bucket {
	if len(cur) == 0 {
		return nil
	}
	if total(cur) < total(prev) {
		return append([]Bucket(nil), cur...)
	}
	p := make(map[float64]float64, len(prev))
	for _, b := range prev {
		p[b.UpperBound] = b.Count
	}
	out := make([]Bucket, len(cur))
	for i, b := range cur {
		out[i] = Bucket{UpperBound: b.UpperBound, Count: CounterDelta(p[b.UpperBound], b.Count)}
	}
	return out
}

// AddBuckets adds b to a bucket by bucket (matching upper bounds), returning
// the sorted sum.
func AddBuckets(a, b []Bucket) []Bucket {
	if len(a) == 0 {
		return append([]Bucket(nil), b...)
	}
	m := make(map[float64]float64, len(a)+len(b))
	for _, x := range a {
		m[x.UpperBound] += x.Count
	}
	for _, x := range b {
		m[x.UpperBound] += x.Count
	}
	out := make([]Bucket, 0, len(m))
	for le, c := range m {
		out = append(out, Bucket{UpperBound: le, Count: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpperBound < out[j].UpperBound })
	return out
}

func total(bs []Bucket) float64 {
	if len(bs) == 0 {
		return 0
	}
	return bs[len(bs)-1].Count
}

// HistogramQuantile estimates the q-quantile (0 ≤ q ≤ 1) of cumulative
// buckets sorted by upper bound, the last being +Inf, like PromQL's
// histogram_quantile: linear interpolation inside the bucket that holds the
// rank, the lower bound of the first bucket taken as 0 (when positive), and
// the upper bound of the highest finite bucket returned when the rank falls
// in +Inf. It returns NaN when there are no observations or no +Inf bucket.
func HistogramQuantile(q float64, buckets []Bucket) float64 {
	if math.IsNaN(q) || q < 0 {
		return math.Inf(-1)
	}
	if q > 1 {
		return math.Inf(1)
	}
	bs := append([]Bucket(nil), buckets...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].UpperBound < bs[j].UpperBound })
	if len(bs) < 2 || !math.IsInf(bs[len(bs)-1].UpperBound, 1) {
		return math.NaN()
	}
	// Enforce monotonic counts, as PromQL does for scrape skew.
	for i := 1; i < len(bs); i++ {
		if bs[i].Count < bs[i-1].Count {
			bs[i].Count = bs[i-1].Count
		}
	}
	obs := bs[len(bs)-1].Count
	if obs == 0 {
		return math.NaN()
	}
	rank := q * obs
	i := sort.Search(len(bs)-1, func(i int) bool { return bs[i].Count >= rank })
	if i == len(bs)-1 {
		return bs[len(bs)-2].UpperBound
	}
	if i == 0 && bs[0].UpperBound <= 0 {
		return bs[0].UpperBound
	}
	start, count, end := 0.0, bs[i].Count, bs[i].UpperBound
	if i > 0 {
		start = bs[i-1].UpperBound
		count -= bs[i-1].Count
		rank -= bs[i-1].Count
	}
	if count == 0 {
		return end
	}
	return start + (end-start)*(rank/count)
}

type jsonBucket struct {
	UpperBound any     `json:"le"`
	Count      float64 `json:"count"`
}

// MarshalJSON writes the +Inf bound as the string "+Inf" (JSON has no
// infinity) and finite bounds as numbers.
func (b Bucket) MarshalJSON() ([]byte, error) {
	var le any = b.UpperBound
	if math.IsInf(b.UpperBound, 1) {
		le = "+Inf"
	}
	return json.Marshal(jsonBucket{UpperBound: le, Count: b.Count})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Bucket) UnmarshalJSON(data []byte) error {
	var j jsonBucket
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	b.Count = j.Count
	switch v := j.UpperBound.(type) {
	case float64:
		b.UpperBound = v
	case string:
		b.UpperBound = math.Inf(1)
	}
	return nil
}
