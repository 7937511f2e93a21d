#!/usr/bin/env bash
# Brings the kind lab up (make kind-up): the cluster, Chaos Mesh with the
# containerd values, the images, then the CRDs, RBAC, manager, drill
# namespace and monitoring (manifests/default). Safe to run again.
source "$(dirname "$0")/lib.sh"
need "$KIND" "$KUBECTL" "$HELM" "$DOCKER"

if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
	echo "kind lab: cluster $CLUSTER exists, reusing it"
else
	"$KIND" create cluster --name "$CLUSTER" --config kind-config.yaml --wait 120s
fi

echo "kind lab: installing Chaos Mesh (containerd runtime, namespace filter on)"
"$HELM" repo add chaos-mesh https://charts.chaos-mesh.org --force-update >/dev/null
"$HELM" repo update chaos-mesh >/dev/null
"$HELM" upgrade --install chaos-mesh chaos-mesh/chaos-mesh \
	--kube-context "kind-$CLUSTER" --namespace chaos-mesh --create-namespace \
	-f manifests/chaos-mesh/values.yaml ${CHAOS_MESH_VERSION:+--version "$CHAOS_MESH_VERSION"} \
	--wait --timeout 10m

echo "kind lab: loading $VICTIM_IMAGE and $MANAGER_IMAGE into the nodes"
for image in "$VICTIM_IMAGE" "$MANAGER_IMAGE"; do
	"$DOCKER" image inspect "$image" >/dev/null 2>&1 || { echo "kind lab: image $image missing: run make images" >&2; exit 1; }
done
"$KIND" load docker-image --name "$CLUSTER" "$VICTIM_IMAGE" "$MANAGER_IMAGE"

echo "kind lab: applying manifests/default (CRD, RBAC, manager, drill namespace, monitoring)"
# Server-side apply: the Experiment CRD embeds Chaos Mesh's specs and is too
# large for the last-applied annotation of client-side apply.
kctl apply --server-side --force-conflicts -k manifests/default
kctl wait --for=condition=Established --timeout=60s crd/experiments.cascadelab.dev
# The manager turns ready once its webhook certificate (written by its own
# cert-controller rotation into a Secret) is mounted: the kubelet's Secret
# refresh takes up to about 90 s on top of the start.
kctl -n cascadelab-system rollout status deployment/cascadelab-manager --timeout=300s
kctl -n cascadelab-monitoring rollout status deployment/prometheus --timeout=180s
kctl -n cascadelab-monitoring rollout status deployment/grafana --timeout=180s

cat <<MSG
kind lab is up.
  Grafana:    http://127.0.0.1:3000  (dashboard "Cascade drill"; admin/admin to edit)
  Prometheus: http://127.0.0.1:9090
  Run a drill: make drill EXP=experiments/map-panic-cascade.yaml
  Watch it:    kubectl -n $DRILL_NAMESPACE get experiments -w
MSG
