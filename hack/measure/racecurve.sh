#!/usr/bin/env bash
# racecurve.sh — does the cascade's crash (and its double charge) follow the
# fault, whatever the machine? Runs a drill (default
# experiments/map-panic-cascade.yaml, as shipped: steady-state gate Enforce)
# RUNS times in each setting and counts, per setting, the runs whose steady
# state broke (the gate ended them, SteadyStateNotMet), the runs with an
# orders ProcessCrashed that followed a fault, and those with
# DuplicateCharges that followed a fault.
#
#   hack/measure/racecurve.sh [-n RUNS] [-s SETTINGS] [EXPERIMENT.yaml]
#
# SETTINGS is a comma-separated list (default one-core,two-cores,hog):
#   one-core   the whole run pinned to CPU 0 (taskset -c 0)
#   two-cores  the machine as it is (keep it quiet)
#   hog        as two-cores, with one busy loop per CPU beside the drill
#              (nice 0, the drill's own priority)
# One line per run, then a Markdown table row per setting. Env: OUT (report
# directory root, default a temp dir kept after the run), CASCADELAB and
# VICTIM (binaries; default: built from this checkout into the temp dir).
set -euo pipefail
runs=20 settings=one-core,two-cores,hog
while getopts "n:s:" o; do
  case $o in
    n) runs=$OPTARG ;; s) settings=$OPTARG ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
root=$(cd "$(dirname "$0")/../.." && pwd)
exp=${1:-$root/experiments/map-panic-cascade.yaml}
work=$(mktemp -d)
out=${OUT:-$work/reports}
bin=${CASCADELAB:-} victim=${VICTIM:-}
if [ -z "$bin" ] || [ -z "$victim" ]; then
  (cd "$root" && go build -o "$work/" ./cmd/cascadelab ./victim/cmd/victim)
  bin=${bin:-$work/cascadelab} victim=${victim:-$work/victim}
fi
hogs=()
stop_hogs() { [ ${#hogs[@]} -eq 0 ] || kill "${hogs[@]}" 2>/dev/null || true; hogs=(); }
trap stop_hogs EXIT
echo "# $(basename "$exp") × $runs per setting; $(nproc) CPUs; $(go version 2>/dev/null | cut -d' ' -f3); reports under $out"
rows=()
for s in ${settings//,/ }; do
  pre=()
  case $s in
    one-core) command -v taskset >/dev/null || { echo "one-core needs taskset (util-linux, Linux only); leave it out with -s two-cores,hog" >&2; exit 2; }
              pre=(taskset -c 0) ;;
    two-cores) ;;
    hog) for _ in $(seq "$(nproc)"); do (while :; do :; done) & hogs+=($!); done ;;
    *) echo "unknown setting $s" >&2; exit 2 ;;
  esac
  gated=0 crash=0 dup=0 both=0 violated=0
  for i in $(seq "$runs"); do
    d=$out/$s/$i; mkdir -p "$out/$s"
    "${pre[@]}" "$bin" run "$exp" --report-dir "$d" --victim-binary "$victim" >"$d.log" 2>&1 || true
    read -r g c du v line < <(python3 - "$d/report.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(0, 0, 0, "none", "no-report:", e); sys.exit()
fs = r.get("findings") or []
def after_fault(t, target=""):
    hits = [f for f in fs if f["type"] == t and target in f.get("target", "") and (f.get("cause") or {}).get("fault")]
    return min(hits, key=lambda f: f["at"]) if hits else None
g = any(f["type"] == "SteadyStateNotMet" for f in fs)
c = after_fault("ProcessCrashed", "orders")
d = after_fault("DuplicateCharges")
say = lambda f: "%.1fs after %s (+%.1fs)" % (f["at"], f["cause"]["fault"], f["cause"]["after"]) if f else "-"
why = next((f["message"].split("): ", 1)[-1][:90] for f in fs if f["type"] == "SteadyStateNotMet"), "")
print(int(g), int(bool(c)), int(bool(d)), r.get("verdict"),
      "crash:", say(c), (c or {}).get("message", "")[:40].replace(" ", "_"), "| double-charge:", say(d), "|", why)
PY
)
    gated=$((gated + g)) crash=$((crash + c)) dup=$((dup + du))
    [ "$c$du" = 11 ] && both=$((both + 1))
    [ "$v" = HypothesisViolated ] && violated=$((violated + 1))
    printf '%-9s run %2d  load %-5s %-18s %s\n' "$s" "$i" "$(cut -d' ' -f1 /proc/loadavg)" "$v" "$line"
  done
  stop_hogs
  rows+=("| $s | $runs | $gated | $crash | $dup | $both | $violated |")
done
echo
echo "| setting | runs | steady state broken | orders crashed after a fault | double charge after a fault | both | Violated |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
