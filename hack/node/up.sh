#!/usr/bin/env bash
# make node-up: a single-node Kubernetes cluster on this machine, built from
# source (docs/node-lab.md). Needs root. Idempotent only through node-down:
# it refuses to start over a running lab.
#
# Network hygiene (a rule of this workplace): pods and Services live only on
# the lab's bridge (cascadelab0, 10.244.0.0/24) and in the network namespaces
# the lab's containerd creates; pods get no default route (only the pod
# subnet and the Service range), an iptables rule drops anything forwarded
# from the bridge to another interface, forwarding is switched off on every
# other interface, nothing is NATed off the machine, and the apiserver,
# kubelet and NodePorts listen only on the bridge's address. node-down
# removes all of it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki.sh"
need_root

for b in kubelet kube-controller-manager kube-scheduler kube-proxy kubectl containerd containerd-shim-runc-v2 ctr crictl cni/bridge cni/host-local cni/loopback cni/portmap; do
	[ -x "$NODE_BIN/$b" ] || die "missing $NODE_BIN/$b: run make node-assets"
done
for b in etcd kube-apiserver; do [ -x "$K8S_BIN/$b" ] || die "missing $K8S_BIN/$b: run make envtest-assets"; done
for t in runc iptables ip nsenter openssl; do command -v $t >/dev/null || die "missing $t (apt-get install runc iptables iproute2 util-linux openssl)"; done
if [ -e "$RUN/up" ] || ip link show "$BRIDGE" >/dev/null 2>&1; then
	die "a node lab is already up (or left over): make node-down first"
fi

T0=$SECONDS
rm -rf "$LAB/etcd" "$LAB/pki" "$LAB/kubelet" "$LAB/containerd" "$LAB/cni" "$LAB"/*.kubeconfig
mkdir -p "$LAB" "$LOGS" "$RUN" "$LAB/cni/net.d" "$LAB/cni/ipam" "$LAB/pod-logs"
: >"$RUN/up"
ls /run/netns 2>/dev/null >"$RUN/netns.before" || :
# containerd puts pod cgroups under k8s.io in every v1 hierarchy: remember
# which of those existed before, so node-down removes only the lab's.
ls -d /sys/fs/cgroup/*/k8s.io 2>/dev/null >"$RUN/cgroups.before" || :
# iptables-nft creates nftables tables on first use; node-down removes the
# empty ones that were not there before.
nft list tables 2>/dev/null >"$RUN/nft-tables.before" || :
find "$LOGS" -name '*.log' -delete

# --- network: bridge, sysctls, the FORWARD guard ---------------------------
# Save what we change so node-down restores it exactly.
{
	echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
	for f in /proc/sys/net/ipv4/conf/*/forwarding; do
		i=$(basename "$(dirname "$f")")
		echo "fwd_$i=$(cat "$f")"
	done
} >"$RUN/sysctl.saved"
ip link add "$BRIDGE" type bridge
ip addr add "$NODE_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
# Drop anything forwarded from the bridge to any other interface, in the
# mangle table (it runs before filter, where kube-proxy and CNI add ACCEPTs).
iptables -t mangle -N CASCADELAB-NODE-GUARD
iptables -t mangle -A CASCADELAB-NODE-GUARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP -m comment --comment "cascadelab node lab: nothing leaves the bridge"
iptables -t mangle -A CASCADELAB-NODE-GUARD ! -i "$BRIDGE" -o "$BRIDGE" -j DROP -m comment --comment "cascadelab node lab: nothing enters the bridge from outside"
iptables -t mangle -I FORWARD 1 -j CASCADELAB-NODE-GUARD
# Forwarding on for the bridge only (pod → Service → pod on the same bridge is
# routed through the host): ip_forward turns every interface on, so every
# other interface is turned off again.
# (conf/all is ip_forward itself: writing it resets every interface, and the
# bridge plugin writes ip_forward=1 on each pod, so it must stay 1; the kernel
# only resets the interfaces when the value changes.)
sysctl -qw net.ipv4.ip_forward=1
for f in /proc/sys/net/ipv4/conf/*/forwarding; do
	i=$(basename "$(dirname "$f")")
	case $i in "$BRIDGE" | lo | all) ;; *) echo 0 >"$f" ;; esac
done
echo 1 >"/proc/sys/net/ipv4/conf/$BRIDGE/forwarding"
printf '# node lab: no upstream resolver; cluster names come from CoreDNS only\n' >"$LAB/resolv.conf"

# --- PKI ---------------------------------------------------------------------
pki_all
log "PKI in $LAB/pki"

# --- etcd + kube-apiserver (the binaries envtest uses) ---------------------
start etcd "$K8S_BIN/etcd" --name "$NODE_NAME" --data-dir "$LAB/etcd" \
	--listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
	--listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
	--initial-cluster "$NODE_NAME=http://$ETCD_PEER" --listen-metrics-urls "" \
	--unsafe-no-fsync --quota-backend-bytes 2147483648
P=$LAB/pki
start kube-apiserver "$K8S_BIN/kube-apiserver" \
	--etcd-servers "http://$ETCD_CLIENT" \
	--bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
	--service-cluster-ip-range "$SVC_CIDR" --service-node-port-range 30000-32767 \
	--client-ca-file "$P/ca.crt" --tls-cert-file "$P/apiserver.crt" --tls-private-key-file "$P/apiserver.key" \
	--kubelet-client-certificate "$P/apiserver-kubelet-client.crt" --kubelet-client-key "$P/apiserver-kubelet-client.key" \
	--kubelet-certificate-authority "$P/ca.crt" --kubelet-preferred-address-types InternalIP \
	--service-account-key-file "$P/sa.pub" --service-account-signing-key-file "$P/sa.key" \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
	--allow-privileged=true --profiling=false --cert-dir "$P" --v 1
wait_for kube-apiserver 120 kc get --raw /readyz
log "kube-apiserver ready at https://$NODE_IP:$API_PORT ($((SECONDS - T0))s)"

start kube-controller-manager "$NODE_BIN/kube-controller-manager" \
	--kubeconfig "$LAB/controller-manager.kubeconfig" \
	--authentication-kubeconfig "$LAB/controller-manager.kubeconfig" --authorization-kubeconfig "$LAB/controller-manager.kubeconfig" \
	--service-account-private-key-file "$P/sa.key" --root-ca-file "$P/ca.crt" \
	--cluster-signing-cert-file "$P/ca.crt" --cluster-signing-key-file "$P/ca.key" \
	--use-service-account-credentials=true --leader-elect=false \
	--allocate-node-cidrs=false --service-cluster-ip-range "$SVC_CIDR" \
	--bind-address 127.0.0.1 --secure-port 0 --v 1
start kube-scheduler "$NODE_BIN/kube-scheduler" \
	--kubeconfig "$LAB/scheduler.kubeconfig" \
	--authentication-kubeconfig "$LAB/scheduler.kubeconfig" --authorization-kubeconfig "$LAB/scheduler.kubeconfig" \
	--leader-elect=false --bind-address 127.0.0.1 --secure-port 0 --v 1

# --- containerd + CNI ----------------------------------------------------------
cat >"$LAB/cni/net.d/10-cascadelab.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "cascadelab",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$LAB/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "$SVC_CIDR"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
mkdir -p "$LAB/containerd/certs.d/_default" "$RUN/containerd"
cat >"$LAB/containerd/certs.d/_default/hosts.toml" <<TOML
# node lab: no registry; images are imported from bin/node/images.
server = "http://127.0.0.1:1"
TOML
cat >"$LAB/containerd/config.toml" <<TOML
version = 3
root = "$LAB/containerd/root"
state = "$RUN/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins.'io.containerd.internal.v1.opt']
  path = "$LAB/containerd/opt"
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "registry.k8s.io/pause:3.10.2"
  # Every registry resolves to a closed port on loopback: nothing is ever
  # pulled from the network; a missing image fails fast (ErrImagePull).
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$LAB/containerd/certs.d"
[plugins.'io.containerd.cri.v1.runtime']
  # root here lacks CAP_SYS_RESOURCE: it cannot lower oom_score_adj, and the
  # sandbox (-998) would die with runc's "can't get final child's PID".
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$RUN/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$NODE_BIN/cni"]
    conf_dir = "$LAB/cni/net.d"
    max_conf_num = 1
TOML
start containerd "$NODE_BIN/containerd" --config "$LAB/containerd/config.toml"
wait_for containerd 60 ctr_ version
log "containerd ready ($((SECONDS - T0))s)"

# --- images: OCI archives from make node-images --------------------------------
for a in "$NODE_BIN"/images/*.tar; do
	ctr_ images import --no-unpack=false "$a" >>"$LOGS/images.log" 2>&1 || die "importing $a (see $LOGS/images.log)"
done
log "images imported: $(ctr_ images ls -q | grep -vc '^sha256:') names ($((SECONDS - T0))s)"

# --- kubelet ---------------------------------------------------------------------
mkdir -p "$LAB/kubelet"
cat >"$LAB/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM has cgroup v1 only; Kubernetes 1.35+ refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $P/kubelet-serving.crt
tlsPrivateKeyFile: $P/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $P/ca.crt}
authorization:
  mode: AlwaysAllow
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
resolvConf: $LAB/resolv.conf
podLogsDir: $LAB/pod-logs
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
YAML
start kubelet "$NODE_BIN/kubelet" --config "$LAB/kubelet/config.yaml" \
	--kubeconfig "$LAB/kubelet.kubeconfig" --root-dir "$LAB/kubelet" \
	--hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1
wait_for "node $NODE_NAME Ready" 120 bash -c "'$NODE_BIN/kubectl' --kubeconfig '$KUBECONFIG' get node $NODE_NAME -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
log "node $NODE_NAME Ready ($((SECONDS - T0))s)"

# --- kube-proxy (iptables) ---------------------------------------------------------
cat >"$LAB/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $LAB/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: $CLUSTER_CIDR
nodePortAddresses: ["$NODE_IP/32"]
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: {localhostNodePorts: false}
# 0: leave the host's conntrack settings as they are
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
start kube-proxy "$NODE_BIN/kube-proxy" --config "$LAB/kube-proxy.yaml" --v 1

# --- cluster add-ons: CoreDNS --------------------------------------------------------
wait_for "default service account" 60 kc get serviceaccount default
kc apply -f "$REPO/hack/node/manifests/coredns.yaml" >/dev/null
wait_for CoreDNS 120 kc -n kube-system rollout status deploy/coredns --timeout 5s
log "CoreDNS ready at $DNS_IP ($((SECONDS - T0))s)"
if [ "${NODE_CHAOS_MESH:-1}" = 1 ]; then
	"$REPO/hack/node/chaos-mesh.sh"
	log "Chaos Mesh ready ($((SECONDS - T0))s)"
fi
cp "$KUBECONFIG" "$NODE_BIN/kubeconfig"
log "node lab up in $((SECONDS - T0))s; export KUBECONFIG=$KUBECONFIG (copy: $NODE_BIN/kubeconfig)"
