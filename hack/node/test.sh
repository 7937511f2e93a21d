#!/usr/bin/env bash
# make test-node: the node suite (build tag node, test/node/). Self-sufficient
# when run as root: installs the Debian packages the node needs, builds the
# assets and images, starts the node lab, runs the suite and takes the lab
# down again (also on failure). Exits 2 with a message when not root.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
	echo "make test-node needs root (it starts a kubelet, containerd, network namespaces and iptables rules); run it as root" >&2
	exit 2
fi
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
missing=()
for p in runc:runc iptables:iptables ipset:ipset conntrack:conntrack nsenter:util-linux openssl:openssl; do
	command -v "${p%%:*}" >/dev/null || missing+=("${p#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi
make node-images prometheus-assets
hack/node/down.sh >/dev/null 2>&1 || :
trap 'hack/node/down.sh' EXIT
hack/node/up.sh
KUBECONFIG=/var/lib/cascadelab-node/admin.kubeconfig NODE_KUBECTL="$REPO/bin/node/kubectl" \
	go test -tags node -count=1 -p 1 -timeout 30m -v ./test/node/...
