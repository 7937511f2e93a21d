#!/usr/bin/env bash
# ledger.sh — requests/s of orders→ledger against the bare loopback chains,
# measured side by side: BenchmarkChain (victim/ledger/chain_bench_test.go)
# runs each variant as its own process, the variants interleaved round by
# round in a rotating order, so a noisy neighbour slows every variant of a
# round alike. Per round it prints req/s and the ratios to the bare chains;
# at the end the median of each figure and of each ratio, with the load
# average before and after.
#
# Variants: bare1 (client → bare handler), bare2 (client → bare proxy →
# bare handler), orders-ledger (sharded cache, cas ledger with group commit,
# instrumented as the victim binary runs them), orders-ledger-serial (the
# same, one transaction per charge).
#
# Usage: hack/measure/ledger.sh
# Env:   ROUNDS (default 7), BENCHTIME (default 1s), CPU (GOMAXPROCS, default
#        the machine's), VARIANTS (default "bare1 bare2 orders-ledger orders-ledger-serial").
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rounds=${ROUNDS:-7}
benchtime=${BENCHTIME:-1s}
read -r -a variants <<<"${VARIANTS:-bare1 bare2 orders-ledger orders-ledger-serial}"
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
    rps=$(awk '/req\/s/ { for (i = 1; i < NF; i++) if ($(i + 1) == "req/s") print $i }' "$work/out")
    [ -n "$rps" ] || { cat "$work/out" >&2; exit 1; }
    echo "$r $v $rps" >>"$work/results"
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

awk -v vars="${variants[*]}" '
function median(a, n,   i, j, t) {
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function minmax(a, n,   i, lo, hi) {
  lo = hi = a[1]
  for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
  return sprintf("%.3g–%.3g", lo, hi)
}
{ rps[$1, $2] = $3; if ($1 + 1 > R) R = $1 + 1 }
END {
  nv = split(vars, v, " ")
  printf "%-6s", "round"; for (i = 1; i <= nv; i++) printf " %21s", v[i]
  printf "  %s\n", "ratios (per round)"
  for (r = 0; r < R; r++) {
    printf "%-6d", r; for (i = 1; i <= nv; i++) printf " %21.0f", rps[r, v[i]]
    line = ""
    for (i = 1; i <= nv; i++) if (v[i] ~ /^orders/) for (j = 1; j <= nv; j++) if (v[j] ~ /^bare/) {
      q = rps[r, v[i]] / rps[r, v[j]]; line = line sprintf("  %s/%s=%.3f", v[i], v[j], q)
      key = v[i] "/" v[j]; cnt[key]++; ratio[key, cnt[key]] = q; keys[key] = 1
    }
    if (rps[r, "orders-ledger-serial"] > 0 && rps[r, "orders-ledger"] > 0) {
      q = rps[r, "orders-ledger"] / rps[r, "orders-ledger-serial"]; line = line sprintf("  group/serial=%.3f", q)
      key = "orders-ledger/orders-ledger-serial"; cnt[key]++; ratio[key, cnt[key]] = q; keys[key] = 1
    }
    print line
  }
  print ""
  print "median req/s (min–max):"
  for (i = 1; i <= nv; i++) {
    delete a; for (r = 0; r < R; r++) a[r + 1] = rps[r, v[i]]
    s = minmax(a, R); printf "  %-22s %8.0f  (%s)\n", v[i], median(a, R), s
  }
  print "median of the per-round ratios (min–max):"
  for (key in keys) {
    delete a; for (k = 1; k <= cnt[key]; k++) a[k] = ratio[key, k]
    s = minmax(a, cnt[key]); printf "  %-40s %.3f  (%s)\n", key, median(a, cnt[key]), s
  }
}' "$work/results"
