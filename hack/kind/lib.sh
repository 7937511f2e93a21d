# Shared settings of the kind lab scripts (sourced, not run).
# The image names are the ones manifests/default deploys: change both together.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
KIND=${KIND:-kind}
KUBECTL=${KUBECTL:-kubectl}
HELM=${HELM:-helm}
DOCKER=${DOCKER:-docker}
CLUSTER=${KIND_CLUSTER:-cascadelab}
VICTIM_IMAGE=ghcr.io/cascadelab/victim:dev
MANAGER_IMAGE=ghcr.io/cascadelab/manager:dev
DRILL_NAMESPACE=${DRILL_NAMESPACE:-cascadelab-drills}
# Chaos Mesh Helm chart version. Pinned to the release the node lab's Chaos
# Mesh matches: the node lab renders the chart of the Chaos Mesh commit
# hack/chaos-mesh/go.mod pins (github.com/chaos-mesh/chaos-mesh
# v0.9.1-0.20260902003049-47411975a8cb), whose values deploy image tag
# v2.8.4; chart 2.8.4 is that release (docs/node-lab.md). Set it empty to
# take whatever the chart repository serves as latest.
CHAOS_MESH_VERSION=${CHAOS_MESH_VERSION-2.8.4}

need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "kind lab: $tool not found on PATH (see docs/kind-lab.md)" >&2; exit 1; }
	done
}

# LAB=node points the scripts that only talk to a running cluster (drill.sh)
# at the node lab (make node-up, docs/node-lab.md) instead of kind: its
# kubeconfig, its context and its kubectl (bin/node/kubectl, v1.37).
LAB=${LAB:-kind}
case "$LAB" in
kind) CONTEXT=kind-$CLUSTER ;;
node)
	CONTEXT=cascadelab-node
	export KUBECONFIG=${NODE_KUBECONFIG:-/var/lib/cascadelab-node/admin.kubeconfig}
	[[ $KUBECTL != kubectl ]] || KUBECTL=bin/node/kubectl
	;;
*) echo "LAB=$LAB: want kind or node" >&2; exit 2 ;;
esac

# kctl runs kubectl against the lab cluster's context.
kctl() { "$KUBECTL" --context "$CONTEXT" "$@"; }
