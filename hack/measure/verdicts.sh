#!/usr/bin/env bash
# verdicts.sh — run each drill N times at its shipped length, one run at a
# time, and print each run's verdict, findings and fault effects, then a
# tally per drill. This is how the closing notes' "Held in k of N runs"
# figures are made: a verdict is a property of the drill on this machine,
# not of one lucky run.
#
# Usage: hack/measure/verdicts.sh [-n N] EXPERIMENT.yaml ...
# Env:   OUT (report directory root, default a temp dir kept after the run).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=10
if [ "${1:-}" = "-n" ]; then n=$2; shift 2; fi
[ $# -gt 0 ] || { echo "usage: $0 [-n N] EXPERIMENT.yaml ..." >&2; exit 2; }
work=$(mktemp -d)
go build -o "$work/cascadelab" ./cmd/cascadelab
go build -o "$work/victim" ./victim/cmd/victim
out=${OUT:-$work/reports}
echo "reports under $out; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in "$@"; do
  name=$(basename "$f" .yaml)
  declare -A tally=()
  for i in $(seq 1 "$n"); do
    dir="$out/$name/$i"
    "$work/cascadelab" run "$f" --report-dir "$dir" --seed "$i" --victim-binary "$work/victim" >"$work/run.out" 2>&1 || true
    v=$(sed -n 's/.*"verdict": *"\([A-Za-z]*\)".*/\1/p' "$dir/report.json" | head -1)
    v=${v:-none}
    tally[$v]=$(( ${tally[$v]:-0} + 1 ))
    findings=$(grep -o '"type": *"[A-Za-z]*"' "$dir/report.json" | sed 's/.*"\([A-Za-z]*\)"$/\1/' | sort | uniq -c | tr -s ' ' | tr '\n' ',' || true)
    effects=$(grep -o '"effect": *"[A-Za-z]*"' "$dir/report.json" | sed 's/.*"\([A-Za-z]*\)"$/\1/' | tr '\n' ',' || true)
    printf '%-30s run %2d  %-20s findings:%s effects:%s load:%s\n' "$name" "$i" "$v" "${findings%,}" "${effects%,}" "$(cut -d' ' -f1 /proc/loadavg)"
  done
  printf '%-30s %d runs:' "$name" "$n"
  for k in "${!tally[@]}"; do printf ' %s=%d' "$k" "${tally[$k]}"; done
  echo
  unset tally
done
