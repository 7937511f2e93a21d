#!/usr/bin/env bash
# make node-down: stop the node lab and remove everything it created —
# processes, pods (through the CRI, so CNI DEL releases IPs, veths and portmap
# rules), mounts, network namespaces, iptables chains (kube-proxy --cleanup,
# then any KUBE-/CNI- chain left, then the lab's guard), the bridge, and the
# sysctls up.sh changed (restored to their saved values). Safe to run twice,
# and after a failed node-up. Logs stay in $LAB/logs.
source "$(dirname "$0")/lib.sh"
need_root
set +e

# stop NAME [SECONDS]: TERM the component, KILL it after SECONDS.
stop() {
	local name=$1 secs=${2:-15} pid
	[ -f "$RUN/$name.pid" ] || return 0
	pid=$(cat "$RUN/$name.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq $((secs * 2))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		kill -0 "$pid" 2>/dev/null && { log "$name did not stop on TERM: KILL"; kill -KILL "$pid"; }
		log "stopped $name"
	fi
	rm -f "$RUN/$name.pid"
}

stop kubelet
# Pods out through the CRI while containerd still runs: CNI DEL per sandbox.
if [ -S "$CONTAINERD_SOCK" ] && [ -x "$NODE_BIN/crictl" ]; then
	pods=$(crictl_ pods -q 2>/dev/null)
	if [ -n "$pods" ]; then
		# shellcheck disable=SC2086
		crictl_ stopp $pods >/dev/null 2>&1
		# shellcheck disable=SC2086
		crictl_ rmp -f $pods >/dev/null 2>&1
		log "removed $(echo "$pods" | wc -w) pod sandboxes through the CRI"
	fi
fi
stop kube-proxy
"$NODE_BIN/kube-proxy" --cleanup >>"$LOGS/kube-proxy-cleanup.log" 2>&1 && log "kube-proxy --cleanup done"
stop containerd 20
# Anything left: shims and containers of this lab's containerd (its socket and
# runc root are under $RUN), then the control plane.
if [ -d "$RUN/runc/k8s.io" ]; then
	for id in $(runc --root "$RUN/runc/k8s.io" list -q 2>/dev/null); do
		runc --root "$RUN/runc/k8s.io" kill "$id" KILL 2>/dev/null
		runc --root "$RUN/runc/k8s.io" delete -f "$id" 2>/dev/null
	done
fi
for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name"; done
# Last resort: any process whose command line names the lab's directories
# (never other users of bin/k8s: their etcd/apiserver do not name $LAB).
for pid in $(pgrep -f -- "$LAB/|$RUN/"); do
	[ "$pid" = $$ ] && continue
	log "killing leftover $(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | cut -c1-100)"
	kill -KILL "$pid" 2>/dev/null
done
sleep 0.5

# Mounts under the lab's directories (kubelet volumes, containerd rootfs,
# shm), deepest first.
findmnt -rn -o TARGET | grep -E "^($LAB|$RUN)/" | sort -r | while read -r m; do
	umount "$m" 2>/dev/null || umount -l "$m"
done
# Pod cgroups (k8s.io/… in each cgroup v1 hierarchy) that the lab created.
for cg in /sys/fs/cgroup/*/k8s.io; do
	[ -d "$cg" ] || continue
	grep -qx "$cg" "$RUN/cgroups.before" 2>/dev/null && continue
	find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	[ -d "$cg" ] && log "could not remove cgroup $cg (processes left in it?)"
done
# Network namespaces containerd made for this lab's pods (cni-*) that
# crictl could not remove.
for ns in $(ls /run/netns 2>/dev/null | grep '^cni-'); do
	grep -qx "$ns" "$RUN/netns.before" 2>/dev/null && continue
	ip netns delete "$ns" && log "deleted netns $ns"
done

# iptables and ip6tables: every chain kube-proxy, the kubelet (it makes
# KUBE-FIREWALL and canaries for IPv6 too) or CNI (portmap) made, in every
# table, then the lab's guard.
for ipt in iptables ip6tables; do
	for table in filter nat mangle raw; do
		rules=$($ipt-save -t "$table" 2>/dev/null)
		# jumps into KUBE-/CNI- chains from built-in chains
		echo "$rules" | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE-|CNI-|CASCADELAB-NODE-)' | while read -r _ chain rest; do
			eval "$ipt -t $table -D $chain $rest" 2>/dev/null
		done
		chains=$(echo "$rules" | sed -n 's/^:\(\(KUBE-\|CNI-\|CASCADELAB-NODE-\)[^ ]*\) .*/\1/p')
		for c in $chains; do $ipt -t "$table" -F "$c" 2>/dev/null; done
		for c in $chains; do $ipt -t "$table" -X "$c" 2>/dev/null; done
	done
done
# kube-proxy's nftables table, if its cleanup left one
nft list table ip kube-proxy >/dev/null 2>&1 && nft delete table ip kube-proxy
nft list table ip6 kube-proxy >/dev/null 2>&1 && nft delete table ip6 kube-proxy

# Tables iptables-nft (kube-proxy, the kubelet, the guard) created and left
# empty: remove those that did not exist before node-up and hold no rule.
if [ -f "$RUN/nft-tables.before" ] && command -v nft >/dev/null; then
	nft list tables 2>/dev/null | while read -r _ family name; do
		grep -qx "table $family $name" "$RUN/nft-tables.before" && continue
		case $family in ip) save=iptables-save ;; ip6) save=ip6tables-save ;; *) continue ;; esac
		$save -t "$name" 2>/dev/null | grep -q '^-A ' && continue
		nft delete table "$family" "$name" && log "deleted empty nftables table $family $name"
	done
fi
if ip link show "$BRIDGE" >/dev/null 2>&1; then
	ip link delete "$BRIDGE" && log "deleted bridge $BRIDGE"
fi
# host-side veths whose pod namespace is gone are deleted with it; any veth
# still enslaved to nothing and named by the bridge plugin (veth*) with a
# lab address is not expected, but report it
if [ -f "$RUN/sysctl.saved" ]; then
	while IFS== read -r k v; do
		case $k in
		ip_forward) sysctl -qw net.ipv4.ip_forward="$v" ;;
		fwd_*) i=${k#fwd_}; [ -e "/proc/sys/net/ipv4/conf/$i/forwarding" ] && echo "$v" >"/proc/sys/net/ipv4/conf/$i/forwarding" ;;
		esac
	done <"$RUN/sysctl.saved"
	log "restored net.ipv4 forwarding sysctls"
fi

rm -rf "$RUN" "$LAB/kubelet" "$LAB/containerd" "$LAB/etcd" "$LAB/cni" "$LAB/pod-logs"
log "node lab down (logs kept in $LOGS)"
exit 0
