#!/usr/bin/env bash
# Chaos Mesh on the node lab from its own Helm chart, rendered offline
# (called by up.sh; or alone on a running lab). The chart comes from the
# Chaos Mesh module hack/chaos-mesh pins (the Go module cache), the values are
# manifests/chaos-mesh/values.yaml (the kind lab's) plus
# hack/node/manifests/chaos-mesh-values.yaml; the CRDs are the ones generated
# from the pinned api module (bin/chaos-mesh/crd, make chaos-mesh-assets), not
# the chart's crds/ (they lag the api module: no partitionBehavior).
source "$(dirname "$0")/lib.sh"
need_root
CM_MOD=$(cd "$REPO/hack/chaos-mesh" && go list -m -f '{{.Path}}@{{.Version}}' github.com/chaos-mesh/chaos-mesh)
CM_DIR=$(cd "$REPO/hack/chaos-mesh" && go mod download -json "$CM_MOD" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$CM_DIR/helm/chaos-mesh" ] || die "no chart in $CM_DIR"
[ -d "$REPO/bin/chaos-mesh/crd" ] || die "missing bin/chaos-mesh/crd: run make chaos-mesh-assets"
mkdir -p "$LAB/chaos-mesh"
# Rendered once per lab: the chart generates its webhook and mTLS
# certificates at render time, so a second render would replace them.
if [ ! -s "$LAB/chaos-mesh/chart.yaml" ]; then
	"$NODE_BIN/helm-render" -chart "$CM_DIR/helm/chaos-mesh" -name chaos-mesh -namespace chaos-mesh \
		-f "$REPO/manifests/chaos-mesh/values.yaml" -f "$REPO/hack/node/manifests/chaos-mesh-values.yaml" \
		>"$LAB/chaos-mesh/chart.yaml"
fi
kc apply --server-side -f "$REPO/bin/chaos-mesh/crd/" >/dev/null
kc create namespace chaos-mesh --dry-run=client -o yaml | kc apply -f - >/dev/null
kc apply -n chaos-mesh -f "$LAB/chaos-mesh/chart.yaml" >/dev/null
wait_for "chaos-controller-manager" 180 kc -n chaos-mesh rollout status deploy/chaos-controller-manager --timeout 5s
wait_for "chaos-daemon" 180 kc -n chaos-mesh rollout status ds/chaos-daemon --timeout 5s
log "Chaos Mesh ($CM_MOD, chart rendered offline) ready"
