#!/usr/bin/env bash
# Start-up and wind-down of a local drill (issue 14, goal 4): a 6 s drill of
# the fixed victim with no fault, run N times per binary, binaries
# interleaved so they share the machine's noise. For each run:
#   start→load  = report.json's startedAt (the drill's clock zero: the load
#                 acknowledged running) − the moment the process was exec'd
#   overhead    = the process's wall time − spec.duration (6 s)
# Prints every run and, per binary, the median and the range of both.
#
#   hack/measure/startup.sh [-n RUNS] [BINARY...]   (default: a fresh build)
set -euo pipefail
runs=5
while getopts n: o; do case $o in n) runs=$OPTARG ;; *) exit 2 ;; esac; done
shift $((OPTIND - 1))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $# -eq 0 ]; then
  go build -o "$tmp/cascadelab" ./cmd/cascadelab
  set -- "$tmp/cascadelab"
fi
cat >"$tmp/startup.yaml" <<'YAML'
apiVersion: cascadelab.dev/v1alpha1
kind: Experiment
metadata:
  name: startup
spec:
  victim:
    orders: {replicas: 2, cache: sharded}
    ledger: {idempotency: cas}
    gateway: {mode: bounded, timeout: 500ms, retries: 2}
  load: {rate: 100, duplicateRatio: "0"}
  duration: 6s
  steadyState: 5s
  faults: []
  hypothesis: {maxErrorRatio: "0.05"}
YAML
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
  for b in "$@"; do
    d=$tmp/r-$i-$(basename "$b")
    t0=$(date +%s.%N)
    "$b" run "$tmp/startup.yaml" --report-dir "$d" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    python3 - "$d/report.json" "$t0" "$t1" "$b" <<'PY' | tee -a "$tmp/all"
import datetime, json, sys
r = json.load(open(sys.argv[1])); t0, t1 = float(sys.argv[2]), float(sys.argv[3])
s = r['startedAt']  # RFC 3339 with nanoseconds
head, frac = (s.rstrip('Z').split('.') + ['0'])[:2]
start = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc).timestamp() + float('0.' + frac)
print("%s start_to_load_ms=%.0f overhead_ms=%.0f" % (sys.argv[4], (start - t0) * 1000, (t1 - t0 - 6) * 1000))
PY
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/all" <<'PY'
import statistics, sys, collections
by = collections.defaultdict(lambda: ([], []))
for line in open(sys.argv[1]):
    b, s, o = line.split()
    by[b][0].append(float(s.split('=')[1])); by[b][1].append(float(o.split('=')[1]))
for b, (s, o) in by.items():
    print("%s: start→load median %.0f ms (%.0f–%.0f), wall − duration median %.0f ms (%.0f–%.0f), %d runs"
          % (b, statistics.median(s), min(s), max(s), statistics.median(o), min(o), max(o), len(s)))
PY
