#!/usr/bin/env bash
# racecurve.sh — how often, and how soon, the racy orders cache crashes at a
# given load, with and without the cascade drill's faults: the curve issue 15
# asks for, from real drills (`cascadelab run`, local backend).
#
#   hack/measure/racecurve.sh [-n RUNS] [-w WINDOW] [-j INTERVAL] [-t TTL] [-f|-e] RATE...
#
# For each RATE (requests/s at the gateway, spread over the drill's two orders
# replicas) it runs experiments/map-panic-cascade.yaml RUNS times with
# load.rate=RATE, janitorInterval INTERVAL, cacheTTL TTL and, without -f, its
# faults moved past the end of a WINDOW-long steady state (the gate, Enforce,
# ends a run at its first breach); with -f the faults run as shipped
# (steadyStateGate Continue, so a steady-state crash does not hide what the
# faults do); with -e the drill runs as shipped but for the rate and janitor
# (steadyStateGate Enforce: a steady-state breach ends it Inconclusive,
# SteadyStateNotMet). It prints one line per run (first crash, what it followed,
# duplicate charges, verdict) and, per rate, the share of runs that crashed
# within the window. Needs the cascadelab binary: go build -o bin/ ./cmd/cascadelab.
set -euo pipefail
runs=5 window=20s interval="" ttl="" faults=0 gate=Continue
while getopts "n:w:j:t:fe" o; do
  case $o in
    n) runs=$OPTARG ;; w) window=$OPTARG ;; j) interval=$OPTARG ;; t) ttl=$OPTARG ;; f) faults=1 ;; e) faults=1 gate=Enforce ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { sed -n '2,18p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CASCADELAB:-$root/bin/cascadelab}
src=$root/experiments/map-panic-cascade.yaml
tmp=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then tmp=$KEEP; mkdir -p "$tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
w=${window%s}
for rate in "$@"; do
  f=$tmp/drill-$rate.yaml
  # The orders line as shipped, unless -j or -t replace the janitor's settings.
  orders=$(grep -m1 '^    orders: {' "$src" | sed 's/^ *//')
  if [ -n "$interval$ttl" ]; then
    orders="orders: {replicas: 2, cache: racy${interval:+, janitorInterval: $interval}${ttl:+, cacheTTL: $ttl}}"
  fi
  if [ $faults = 1 ]; then
    sed -e "s/^  load: {rate: [0-9]*/  load: {rate: $rate/" -e "s/^    orders: {.*}/    $orders/" \
        -e "s/^  steadyState: .*/  steadyState: 10s\n  steadyStateGate: $gate/" "$src" >"$f"
  else
    # A steady state of WINDOW, one harmless fault after it.
    sed -e "s/^  load: {rate: [0-9]*/  load: {rate: $rate/" -e "s/^    orders: {.*}/    $orders/" \
        -e "s/^  duration: .*/  duration: $((w + 5))s/" -e "s/^  steadyState: .*/  steadyState: ${w}s/" \
        -e "s/^    after: 10s/    after: ${w}s/" -e "s/^      duration: 30s/      duration: 4s/" \
        -e "s/^    after: 20s/    after: $((w + 1))s/" "$src" >"$f"
  fi
  crashed=0 gated=0 after=0 passed=0 violated=0
  for i in $(seq "$runs"); do
    d=$tmp/r-$rate-$i
    "$bin" run "$f" --report-dir "$d" >/dev/null 2>&1 || true
    line=$(python3 - "$d/report.json" "$w" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1])); w = float(sys.argv[2])
unit = {'ns': 1e-9, 'us': 1e-6, 'µs': 1e-6, 'ms': 1e-3, 's': 1, 'm': 60, 'h': 3600}
def sec(v):  # seconds from a number (seconds, or nanoseconds) or a Go duration
    if isinstance(v, (int, float)):
        return v / 1e9 if v > 1e6 else float(v)
    return sum(float(n) * unit[u] for n, u in re.findall(r'([0-9.]+)(ns|us|µs|ms|s|m|h)', v))
crash = [f for f in r.get('findings') or [] if f['type'] in ('ProcessCrashed',)]
tl = [e for e in r.get('timeline') or [] if e.get('kind') == 'ProcessCrashed']
first = min([sec(e['at']) for e in tl] + [sec(f['at']) for f in crash], default=None)
cause = next((f.get('cause') for f in crash if sec(f['at']) == first), None)
s = r.get('summary') or {}
head = next((f['message'] for f in crash if sec(f['at']) == first), '')
gate = next((f['message'] for f in r.get('findings') or [] if f['type'] == 'SteadyStateNotMet'), '')
gated = bool(gate)
if gated:  # what broke the steady state: the first breach it names
    head = 'gate:' + gate.split('): ', 1)[-1]
print(("%.1f" % first) if first is not None else "-", (cause or {}).get('fault', '-') if cause else '-',
      s.get('duplicateCharges', 0), r.get('verdict'), 1 if first is not None and first < w else 0, head.replace(' ', '_')[:60], 'gated' if gated else '-')
PY
)
    echo "rate=$rate run=$i first_crash=$(echo "$line" | cut -d' ' -f1) followed=$(echo "$line" | cut -d' ' -f2) dup=$(echo "$line" | cut -d' ' -f3) verdict=$(echo "$line" | cut -d' ' -f4) gate=$(echo "$line" | cut -d' ' -f7) $(echo "$line" | cut -d' ' -f6)"
    crashed=$((crashed + $(echo "$line" | cut -d' ' -f5)))
    read -r first followed _ verdict _ _ g <<<"$(echo "$line" | sed 's/  / - /g')"
    if [ "$g" = gated ]; then gated=$((gated + 1)); else
      passed=$((passed + 1))
      [ "$verdict" = HypothesisViolated ] && violated=$((violated + 1))
    fi
    [ "$first" != - ] && [ "$followed" != - ] && after=$((after + 1))
  done
  if [ $faults = 1 ]; then
    echo "rate=$rate: steady state broken (gate) in $gated of $runs; first crash after a fault in $after of $runs; Violated in $violated of the $passed that passed the gate"
  fi
  echo "rate=$rate $orders faults=$faults: crashed within ${w}s in $crashed of $runs runs"
done
