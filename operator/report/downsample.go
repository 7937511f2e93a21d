package report

import (
	"encoding/json"
	"slices"

	"github.com/cascadelab/cascadelab/operator/engine"
)

// Downsample thins a drill's time series so that its JSON encoding (the
// compact form json.Marshal writes, as the kube backend stores report.json
// in its ConfigMap) takes at most maxBytes, and returns how many points it
// dropped. A series that already fits is returned as it is, with dropped 0.
//
// It keeps, in time order:
//   - the first and the last point;
//   - every fault edge: each point whose ActiveFaults differs from the
//     point before, together with that point before, so a fault window
//     starts and ends on the samples it did;
//   - every phase change, the same way;
//   - per window of w consecutive points, the point with the highest
//     ErrorRatio and the point with the highest total goroutine count
//     (Goroutines["total"]); the first such point on a tie.
//
// This is max-preserving bucket thinning: a peak that lasted one sample
// survives, so the peaks charted and the figures judged from the series
// stay what they were, while a flat stretch shrinks to a point or two per
// window. w is found by binary search: a window for which the kept points
// fit, at or near the smallest. Kept
// points are the input's own (their maps are shared, not copied). When the
// points it must keep (ends, fault edges, phase changes) alone exceed
// maxBytes, it returns those, and the result is larger than maxBytes. A
// point that cannot be encoded (a NaN) is counted as zero bytes;
// json.Marshal would reject the whole series anyway.
func Downsample(series []engine.Point, maxBytes int) (out []engine.Point, dropped int) {
	n := len(series)
	// cost[i] is point i's encoded size plus its comma; the array adds "[]"
	// and drops one comma, so a selection S costs 1 + Σ cost.
	cost := make([]int, n)
	total := 1
	for i := range series {
		b, err := json.Marshal(&series[i])
		if err == nil {
			cost[i] = len(b) + 1
		}
		total += cost[i]
	}
	if n <= 2 || total <= maxBytes {
		return series, 0
	}

	must := make([]bool, n)
	must[0], must[n-1] = true, true
	for i := 1; i < n; i++ {
		if !slices.Equal(series[i].ActiveFaults, series[i-1].ActiveFaults) || series[i].Phase != series[i-1].Phase {
			must[i-1], must[i] = true, true
		}
	}
	keep := make([]bool, n)
	size := func(w int) int {
		copy(keep, must)
		if w > 0 {
			for lo := 0; lo < n; lo += w {
				hi := min(lo+w, n)
				er, gr := lo, lo
				for i := lo + 1; i < hi; i++ {
					if series[i].ErrorRatio > series[er].ErrorRatio {
						er = i
					}
					if series[i].Goroutines["total"] > series[gr].Goroutines["total"] {
						gr = i
					}
				}
				keep[er], keep[gr] = true, true
			}
		}
		s := 1
		for i, k := range keep {
			if k {
				s += cost[i]
			}
		}
		return s
	}

	// Kept bytes shrink as w grows, though not strictly (windows shift),
	// so a binary search whose upper end always fits settles on a w that
	// fits, at or near the smallest.
	w := 0 // 0: the mandatory points only
	if size(n) <= maxBytes {
		lo, hi := 1, n
		for lo < hi {
			mid := (lo + hi) / 2
			if size(mid) <= maxBytes {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		w = hi
	}
	size(w)
	out = make([]engine.Point, 0, n)
	for i, k := range keep {
		if k {
			out = append(out, series[i])
		}
	}
	return out, n - len(out)
}
