#!/usr/bin/env bash
# drills.sh — run the drills in experiments/ with the built CLI and print, for
# each: the wall time from launch to verdict (process exit, after the report
# is written), the verdict, and the runner's OWN CPU time (user + sys).
#
# Method. The CLI is started with --victim-binary pointing at a separately
# built victim, so every victim process is a child exec'ing a different
# binary; the runner process itself then holds only the engine, the scraper,
# the supervisors and the in-process toxiproxy proxies (every edge's bytes
# pass through it, so that is part of its cost). Its utime and stime (fields
# 14 and 15 of /proc/PID/stat, in clock ticks) are read every 0.2 s while it
# runs; the last reading before exit is reported (at most 0.2 s of CPU is
# missed at the very end). /proc/PID/stat counts only the process's own
# threads: children's CPU is in cutime/cstime (fields 16, 17), which is
# excluded. /usr/bin/time would report children too, which is why it is not
# used.
#
# Usage: hack/measure/drills.sh [EXPERIMENT.yaml ...]   (default: experiments/*.yaml)
# Env:   SEED (default 1), OUT (report directory root, default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/cascadelab" ./cmd/cascadelab
go build -o "$work/victim" ./victim/cmd/victim
out=${OUT:-$work/reports}
seed=${SEED:-1}
tck=$(getconf CLK_TCK)
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(experiments/*.yaml)

printf '%-30s %9s %-20s %9s %9s %9s %6s\n' drill wall_s verdict user_s sys_s cpu_s cpu_%
for f in "${files[@]}"; do
  name=$(basename "$f" .yaml)
  dir="$out/$name"
  start=$(date +%s.%N)
  "$work/cascadelab" run "$f" --report-dir "$dir" --seed "$seed" --victim-binary "$work/victim" \
      >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  ut=0 st=0
  while kill -0 "$pid" 2>/dev/null; do
    if stat=$(cat "/proc/$pid/stat" 2>/dev/null); then
      # Fields after the ")" closing comm: state is field 3, utime 14, stime 15.
      read -r -a rest <<<"${stat##*) }"
      if [ "${rest[0]}" != Z ]; then ut=${rest[11]} st=${rest[12]}; fi
    fi
    sleep 0.2
  done
  rc=0; wait "$pid" || rc=$?
  end=$(date +%s.%N)
  verdict=$(sed -n 's/.*"verdict": *"\([A-Za-z]*\)".*/\1/p' "$dir/report.json" 2>/dev/null | head -1)
  awk -v n="$name" -v s="$start" -v e="$end" -v v="${verdict:-none}(rc=$rc)" -v u="$ut" -v y="$st" -v t="$tck" 'BEGIN{
    w=e-s; us=u/t; ss=y/t;
    printf "%-30s %9.1f %-20s %9.2f %9.2f %9.2f %5.0f%%\n", n, w, v, us, ss, us+ss, 100*(us+ss)/w }'
done
echo "reports in $out (stdout/stderr of each run were in $work, removed on exit)"
