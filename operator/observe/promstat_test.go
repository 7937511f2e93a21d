package observe

import (
	"encoding/json"
	"math"
	"testing"
)

func TestCounterDelta(t *testing.T) {
	for _, c := range []struct{ prev, cur, want float64 }{
		{0, 10, 10}, {10, 15, 5}, {15, 15, 0}, {100, 7, 7}, {100, 0, 0},
	} {
		if got := CounterDelta(c.prev, c.cur); got != c.want {
			t.Errorf("CounterDelta(%v,%v)=%v want %v", c.prev, c.cur, got, c.want)
		}
	}
}

func TestCounterDeltas(t *testing.T) {
	got := CounterDeltas(map[string]float64{"200": 100, "500": 5}, map[string]float64{"200": 120, "500": 5, "error": 2})
	if got["200"] != 20 || got["500"] != 0 || got["error"] != 2 {
		t.Errorf("no reset: %v", got)
	}
	// One series went down: the process restarted, every series restarted.
	got = CounterDeltas(map[string]float64{"200": 100, "500": 5}, map[string]float64{"200": 10, "500": 6})
	if got["200"] != 10 || got["500"] != 6 {
		t.Errorf("reset: %v", got)
	}
}

func TestBucketsDelta(t *testing.T) {
	inf := math.Inf(1)
	prev := []Bucket{{.1, 10}, {1, 20}, {inf, 20}}
	cur := []Bucket{{.1, 15}, {1, 30}, {inf, 31}}
	got := BucketsDelta(prev, cur)
	want := []Bucket{{.1, 5}, {1, 10}, {inf, 11}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("delta %v want %v", got, want)
		}
	}
	reset := []Bucket{{.1, 1}, {1, 2}, {inf, 2}}
	if got := BucketsDelta(cur, reset); got[2].Count != 2 {
		t.Errorf("reset: %v", got)
	}
}

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	bs := []Bucket{{.1, 50}, {.5, 90}, {1, 100}, {inf, 100}}
	for _, c := range []struct {
		q, want float64
	}{
		{0.5, 0.1},   // rank 50 at the top of the first bucket
		{0.25, 0.05}, // 0 + 0.1*25/50
		{0.7, 0.3},   // .1 + .4*(20/40)
		{0.99, 0.95}, // .5 + .5*(9/10)
		{1, 1},
	} {
		if got := HistogramQuantile(c.q, bs); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q=%v: %v want %v", c.q, got, c.want)
		}
	}
	// Rank in +Inf: the highest finite bound.
	if got := HistogramQuantile(.99, []Bucket{{.1, 1}, {1, 2}, {inf, 100}}); got != 1 {
		t.Errorf("+Inf bucket: %v", got)
	}
	if got := HistogramQuantile(.99, []Bucket{{.1, 0}, {inf, 0}}); !math.IsNaN(got) {
		t.Errorf("empty: %v", got)
	}
	if got := HistogramQuantile(.99, []Bucket{{.1, 5}}); !math.IsNaN(got) {
		t.Errorf("no +Inf: %v", got)
	}
	if got := HistogramQuantile(-1, bs); !math.IsInf(got, -1) {
		t.Errorf("q<0: %v", got)
	}
}

func TestBucketJSON(t *testing.T) {
	in := []Bucket{{.25, 3}, {math.Inf(1), 4}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[{"le":0.25,"count":3},{"le":"+Inf","count":4}]` {
		t.Errorf("json %s", b)
	}
	var out []Bucket
	if err := json.Unmarshal(b, &out); err != nil || out[1] != in[1] || out[0] != in[0] {
		t.Errorf("round trip %v %v", out, err)
	}
}
