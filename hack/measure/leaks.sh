#!/usr/bin/env bash
# leaks.sh — seconds per /debug/goleak report at N extra goroutines, the
# Reporter's own scan (fast) against goleak.Find (goleak), measured side by
# side: BenchmarkReport (victim/leakreport/bench_test.go) runs each case as
# its own process, the two scans alternating within a round and the order
# rotating between rounds. Prints every figure, then the median (min–max) of
# each and of the per-round ratio goleak/fast, with the load average before
# and after.
#
# Usage: hack/measure/leaks.sh
# Env:   ROUNDS (default 3), GOROUTINES (default 10000; 1000 or 10000),
#        LEAKED (default "true false"), BENCHTIME (default 2x: reports per
#        process, timed after the goroutines are started).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rounds=${ROUNDS:-3}
n=${GOROUTINES:-10000}
read -r -a leakedv <<<"${LEAKED:-true false}"
benchtime=${BENCHTIME:-2x}
go test -c -o "$work/leakreport.test" ./victim/leakreport/

echo "# $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $rounds rounds, $n goroutines, benchtime $benchtime (seconds per report)"
for ((r = 0; r < rounds; r++)); do
  for leaked in "${leakedv[@]}"; do
    scans=(fast goleak)
    ((r % 2)) && scans=(goleak fast)
    for scan in "${scans[@]}"; do
      (cd "$work" && ./leakreport.test -test.run '^$' \
          -test.bench "^BenchmarkReport\$/^goroutines=$n\$/^leaked=$leaked\$/^scan=$scan\$" \
          -test.benchtime "$benchtime" -test.count 1 -test.timeout 30m) >"$work/out" 2>&1 ||
        { cat "$work/out" >&2; exit 1; }
      ns=$(awk '/ns\/op/ { for (i = 1; i < NF; i++) if ($(i + 1) == "ns/op") print $i }' "$work/out")
      [ -n "$ns" ] || { cat "$work/out" >&2; exit 1; }
      s=$(awk -v ns="$ns" 'BEGIN { printf "%.3f", ns / 1e9 }')
      echo "round $r leaked=$leaked scan=$scan: $s s"
      echo "$r $leaked $scan $s" >>"$work/results"
    done
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

awk '
function median(a, n,   i, j, t) {
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function span(a, n,   i, lo, hi) {
  lo = hi = a[1]
  for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
  return sprintf("%.3g–%.3g", lo, hi)
}
{ s[$1, $2, $3] = $4; if ($1 + 1 > R) R = $1 + 1; L[$2] = 1 }
END {
  for (l in L) {
    for (k = 1; k <= 3; k++) {
      name = k == 1 ? "fast" : k == 2 ? "goleak" : "goleak/fast"
      delete a
      for (r = 0; r < R; r++) a[r + 1] = k == 1 ? s[r, l, "fast"] : k == 2 ? s[r, l, "goleak"] : s[r, l, "goleak"] / s[r, l, "fast"]
      sp = span(a, R)
      printf "leaked=%-5s %-12s median %8.3f  (%s)%s\n", l, name, median(a, R), sp, k < 3 ? " s" : ""
    }
  }
}' "$work/results"
