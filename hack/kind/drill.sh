#!/usr/bin/env bash
# Runs one drill on the kind lab (make drill EXP=experiments/….yaml), or on
# the node lab with LAB=node (make drill LAB=node EXP=…): applies
# the Experiment into the drill namespace (replacing an earlier run of the
# same name), waits for a terminal phase, prints the status and where the
# report is. Exit 0 when the drill reached phase Completed or Aborted (a
# verdict was given), 1 otherwise.
source "$(dirname "$0")/lib.sh"
need "$KUBECTL"
exp=${1:?usage: drill.sh EXPERIMENT.yaml}
timeout=${DRILL_TIMEOUT:-600}

name=$(kctl -n "$DRILL_NAMESPACE" create --dry-run=client -o jsonpath='{.metadata.name}' -f "$exp")
kctl -n "$DRILL_NAMESPACE" delete experiment "$name" --ignore-not-found --wait --timeout=120s
kctl -n "$DRILL_NAMESPACE" apply -f "$exp"
if [[ $LAB == kind ]]; then
	echo "kind lab: drill $name started; Grafana: http://127.0.0.1:3000/d/cascadelab-cascade-drill"
else
	echo "$LAB lab: drill $name started"
fi

phase=""
start=$SECONDS
while :; do
	phase=$(kctl -n "$DRILL_NAMESPACE" get experiment "$name" -o jsonpath='{.status.phase}')
	case "$phase" in
	Completed | Aborted | Failed) break ;;
	esac
	if ((SECONDS - start > timeout)); then
		echo "$LAB lab: drill $name still in phase '${phase:-<none>}' after ${timeout}s" >&2
		kctl -n "$DRILL_NAMESPACE" describe experiment "$name" >&2
		exit 1
	fi
	printf '%s lab: %4ds phase %s\n' "$LAB" $((SECONDS - start)) "${phase:-<none>}"
	sleep 5
done

kctl -n "$DRILL_NAMESPACE" get experiment "$name" -o wide
kctl -n "$DRILL_NAMESPACE" get experiment "$name" \
	-o go-template='verdict: {{.status.verdict}}{{"\n"}}{{range .status.findings}}  {{.type}} at {{.at}} {{.target}}: {{.message}}{{"\n"}}{{end}}'
report=$(kctl -n "$DRILL_NAMESPACE" get experiment "$name" -o jsonpath='{.status.reportRef.configMap}')
if [[ -n "$report" ]]; then
	echo "report: ConfigMap $DRILL_NAMESPACE/$report"
	echo "  kubectl -n $DRILL_NAMESPACE get configmap $report -o jsonpath='{.data.report\\.json}'"
else
	echo "report: none recorded in status.reportRef"
fi
[[ "$phase" != Failed ]]
