#!/usr/bin/env bash
# ledger.sh — orders→ledger against the bare loopback chains, measured side
# by side: BenchmarkChain (victim/ledger/chain_bench_test.go) runs each
# variant as its own process, the variants interleaved round by round in a
# rotating order, so a noisy neighbour slows every variant of a round alike.
# Per round it prints req/s, process CPU µs per request and the ledger's
# mean batch; at the end the median (min–max) of each figure and of each
# per-round ratio, with the load average before and after.
#
# Variants: bare1 (client → bare handler), bare2 (client → bare proxy →
# bare handler), ledger (client → ledger, one hop), orders-bare (orders
# calling a bare handler), orders-ledger (sharded cache, cas ledger with
# group commit; both instrumented as the victim binary runs them),
# orders-ledger-serial (the same, one transaction per charge),
# orders-ledger-quiet (orders-ledger without log events). Every variant but
# the bare ones and -quiet writes its log events into a drained pipe, as in
# a drill.
#
# Ratios: X/Y of req/s is the throughput ratio (the goal's figure); the
# "cpu" ratios are CPU per request of Y over X, i.e. the throughput ratio a
# CPU-bound run would show — it moves less when other processes take the
# cores.
#
# Usage: hack/measure/ledger.sh
# Env:   ROUNDS (default 7), BENCHTIME (default 1s), CPU (GOMAXPROCS, default
#        the machine's), VARIANTS (default all seven).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rounds=${ROUNDS:-7}
benchtime=${BENCHTIME:-1s}
read -r -a variants <<<"${VARIANTS:-bare1 bare2 ledger orders-bare orders-ledger orders-ledger-serial orders-ledger-quiet}"
go test -c -o "$work/ledger.test" ./victim/ledger/
cpuflag=()
[ -n "${CPU:-}" ] && cpuflag=(-test.cpu "$CPU")

echo "# $(nproc) cores, GOMAXPROCS ${CPU:-default}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $rounds rounds × ${#variants[@]} variants, benchtime $benchtime, 4×GOMAXPROCS parallel clients"
n=${#variants[@]}
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < n; k++)); do
    v=${variants[$(((k + r) % n))]}
    (cd "$work" && ./ledger.test -test.run '^$' -test.bench "^BenchmarkChain\$/^${v}\$" \
        -test.benchtime "$benchtime" -test.count 1 "${cpuflag[@]}") >"$work/out" 2>&1 ||
      { cat "$work/out" >&2; exit 1; }
    line=$(awk '/req\/s/ {
      rps = cpu = 0; batch = "-"
      for (i = 1; i < NF; i++) {
        if ($(i + 1) == "req/s") rps = $i
        if ($(i + 1) == "cpu-µs/req") cpu = $i
        if ($(i + 1) == "batch") batch = $i
      }
      print rps, cpu, batch }' "$work/out")
    [ -n "$line" ] || { cat "$work/out" >&2; exit 1; }
    echo "$r $v $line" >>"$work/results"
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

awk -v vars="${variants[*]}" '
function median(a, n,   i, j, t) {
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function span(a, n,   i, lo, hi) {
  lo = hi = a[1]
  for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
  return sprintf("%.3g–%.3g", lo, hi)
}
function stat(label, a, n, fmt) { printf "  %-42s " fmt "  (%s)\n", label, median(a, n), span(a, n) }
{ rps[$1, $2] = $3; cpu[$1, $2] = $4; batch[$1, $2] = $5; have[$2] = 1; if ($1 + 1 > R) R = $1 + 1 }
END {
  nv = split(vars, v, " ")
  printf "%-6s", "round"; for (i = 1; i <= nv; i++) printf " %22s", v[i]; print "   (req/s, cpu-µs/req, batch)"
  for (r = 0; r < R; r++) {
    printf "%-6d", r
    for (i = 1; i <= nv; i++) printf " %22s", sprintf("%.0f %.0f %s", rps[r, v[i]], cpu[r, v[i]], batch[r, v[i]])
    print ""
  }
  print "\nmedian (min–max) over rounds:"
  for (i = 1; i <= nv; i++) {
    delete a; for (r = 0; r < R; r++) a[r + 1] = rps[r, v[i]]; stat(v[i] " req/s", a, R, "%8.0f")
    delete a; for (r = 0; r < R; r++) a[r + 1] = cpu[r, v[i]]; stat(v[i] " cpu-µs/req", a, R, "%8.0f")
    if (batch[0, v[i]] != "-") { delete a; for (r = 0; r < R; r++) a[r + 1] = batch[r, v[i]]; stat(v[i] " charges/batch", a, R, "%8.2f") }
  }
  np = split("orders-ledger/bare2 orders-ledger/bare1 orders-ledger-serial/bare2 orders-ledger/orders-ledger-serial orders-bare/bare2 orders-ledger/orders-bare ledger/bare1 orders-ledger/orders-ledger-quiet", pairs, " ")
  print "\nper-round ratios, median (min–max): req/s X/Y, and cpu Y/X (CPU per request of Y over X)"
  for (p = 1; p <= np; p++) {
    split(pairs[p], xy, "/"); x = xy[1]; y = xy[2]
    if (!have[x] || !have[y]) continue
    delete a; for (r = 0; r < R; r++) a[r + 1] = rps[r, x] / rps[r, y]; stat(x "/" y " req/s", a, R, "%8.3f")
    delete a; for (r = 0; r < R; r++) a[r + 1] = cpu[r, y] / cpu[r, x]; stat(x "/" y " cpu", a, R, "%8.3f")
  }
}' "$work/results"
