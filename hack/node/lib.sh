# Shared settings of the node lab's scripts (hack/node/*.sh); sourced.
# Everything the lab creates is named here, so node-down can remove exactly it.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NODE_BIN=${NODE_BIN:-$REPO/bin/node}
K8S_BIN=${K8S_BIN:-$REPO/bin/k8s}
LAB=${NODE_LAB:-/var/lib/cascadelab-node}   # state, certs, logs
RUN=/run/cascadelab-node                    # sockets, containerd state
LOGS=$LAB/logs
NODE_NAME=cascadelab-node
BRIDGE=cascadelab0
POD_CIDR=10.244.0.0/24     # the node's pods: host-local on the bridge
CLUSTER_CIDR=10.244.0.0/16
NODE_IP=10.244.0.1         # the bridge's address: apiserver, kubelet, node IP
SVC_CIDR=10.96.0.0/16
DNS_IP=10.96.0.10
API_PORT=6443
ETCD_CLIENT=127.0.0.1:23790
ETCD_PEER=127.0.0.1:23800
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
export KUBECONFIG=$LAB/admin.kubeconfig
export PATH=$NODE_BIN:$K8S_BIN:$PATH
export CONTAINER_RUNTIME_ENDPOINT=unix://$CONTAINERD_SOCK IMAGE_SERVICE_ENDPOINT=unix://$CONTAINERD_SOCK

log() { printf '[node %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "the node lab needs root (network namespaces, iptables, containers)" >&2
		exit 2
	fi
}
kc() { "$NODE_BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
ctr_() { "$NODE_BIN/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
crictl_() { "$NODE_BIN/crictl" --runtime-endpoint "unix://$CONTAINERD_SOCK" --image-endpoint "unix://$CONTAINERD_SOCK" --timeout 20s "$@"; }

# start NAME CMD…: run a component in the background, its output in
# $LOGS/NAME.log and its PID in $RUN/NAME.pid.
start() {
	local name=$1; shift
	mkdir -p "$LOGS" "$RUN"
	setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
	log "started $name (pid $!, log $LOGS/$name.log)"
}

# wait_for WHAT SECONDS CMD…: poll CMD until it succeeds.
wait_for() {
	local what=$1 secs=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || die "timed out after ${secs}s waiting for $what"
		sleep 0.5
	done
}
