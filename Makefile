# cascadelab — make targets. `make test` is what CI runs (.ci/run).
SHELL := /usr/bin/env bash
GO ?= go
BIN ?= $(CURDIR)/bin
K8S_ASSETS ?= $(BIN)/k8s
CONTROLLER_GEN ?= $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
export KUBEBUILDER_ASSETS ?= $(K8S_ASSETS)

.PHONY: all build go-check test test-short vet envtest-assets chaos-mesh-assets prometheus-assets manifests bench clean node-assets node-images node-up node-down test-node

all: build

build: ## Build the CLI, the victim and the manager into bin/.
	$(GO) build -o $(BIN)/ ./cmd/cascadelab ./victim/cmd/victim ./operator/cmd/manager

# The CLI and everything a laptop drill uses also type-check for macOS.
vet:
	$(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./cmd/... ./operator/local/... ./victim/...

# The test packages are compiled in parallel first (`go list -test -export`
# compiles them into the build cache without linking or running anything);
# then packages run one at a time (-p 1), because drills judge real processes
# and a 2-core machine running two drills at once makes their latency figures
# meaningless. go test links each test binary itself (links are not cached,
# so linking them in the first step too was done twice), and its vet subset
# is off because `go vet ./...` (all of vet's default checks, test files
# included) has just run.
test: go-check envtest-assets chaos-mesh-assets prometheus-assets vet ## Everything CI runs.
	$(GO) list -test -export ./... >/dev/null
	$(GO) test -count=1 -p 1 -vet=off -timeout 60m ./...

# The tests build the victim and the CLI with `go` from PATH (and
# bin/prometheus is found before any prometheus on PATH): fail before any
# build or test when go is not there, rather than in the middle of the run.
go-check:
	@command -v go >/dev/null 2>&1 || { echo "make test: the tests run 'go' from PATH to build the victim and the CLI; put Go 1.26 on PATH (setting GO=... is not enough)" >&2; exit 2; }

test-short: ## Unit tests only (no envtest, no long drills).
	$(GO) test -short ./...

# kube-apiserver and etcd built from the Go module proxy (setup-envtest cannot
# download here); reused when present.
envtest-assets: $(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd

$(K8S_ASSETS)/kube-apiserver: hack/envtest/apiserver/go.mod
	mkdir -p $(K8S_ASSETS)
	cd hack/envtest/apiserver && $(GO) build -o $(K8S_ASSETS)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver

$(K8S_ASSETS)/etcd: hack/envtest/etcd/go.mod
	mkdir -p $(K8S_ASSETS)
	cd hack/envtest/etcd && $(GO) build -o $(K8S_ASSETS)/etcd go.etcd.io/etcd/server/v3

# Chaos Mesh's real chaos-controller-manager, built from the Go module proxy
# through the wrapper module in hack/chaos-mesh (~4 min cold), and all Chaos
# Mesh CRDs generated from the api module it is built with (the root module's
# config/crd/bases lags it: no partitionBehavior); reused when present.
# internal/testenv.StartChaosMesh runs it beside envtest.
CHAOS_MESH_ASSETS ?= $(BIN)/chaos-mesh
chaos-mesh-assets: $(CHAOS_MESH_ASSETS)/chaos-controller-manager $(CHAOS_MESH_ASSETS)/crd/chaos-mesh.org_podchaos.yaml

$(CHAOS_MESH_ASSETS)/crd/chaos-mesh.org_podchaos.yaml: hack/chaos-mesh/go.mod hack/chaos-mesh/go.sum
	rm -rf $(CHAOS_MESH_ASSETS)/crd
	cd hack/chaos-mesh && $(CONTROLLER_GEN) crd:ignoreUnexportedFields=true,crdVersions=v1 paths=github.com/chaos-mesh/chaos-mesh/api/v1alpha1 output:crd:artifacts:config=$(CHAOS_MESH_ASSETS)/crd

$(CHAOS_MESH_ASSETS)/chaos-controller-manager: hack/chaos-mesh/go.mod hack/chaos-mesh/go.sum
	mkdir -p $(CHAOS_MESH_ASSETS)
	cd hack/chaos-mesh && $(GO) build -o $@ github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager

# The Prometheus server the dashboards' tests run (dashboards/lab_test.go),
# built from the Go module proxy through the wrapper module in hack/prometheus
# at the release the kind lab deploys (v3.5.0 = module v0.305.0); reused when
# present. No builtinassets tag: the HTTP API works, the web UI's pages are
# absent. The tests take the PROMETHEUS environment variable, then
# bin/prometheus, then PATH.
prometheus-assets: $(BIN)/prometheus

$(BIN)/prometheus: hack/prometheus/go.mod hack/prometheus/go.sum
	mkdir -p $(BIN)
	cd hack/prometheus && $(GO) build -o $@ github.com/prometheus/prometheus/cmd/prometheus

manifests: ## Regenerate CRDs, RBAC and deepcopy code from the kubebuilder markers.
	$(CONTROLLER_GEN) object paths=./operator/api/...
	$(CONTROLLER_GEN) crd paths=./operator/api/... output:crd:artifacts:config=manifests/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=cascadelab-manager paths=./operator/... output:rbac:artifacts:config=manifests/rbac

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./victim/...

clean:
	rm -rf $(BIN)

# Opt a namespace in to drills (docs/security.md): the label
# cascadelab.dev/chaos=enabled, Chaos Mesh's chaos-mesh.org/inject=enabled
# annotation and the RoleBinding of the manager's rights there
# (manifests/opt-in with the namespace set). It prints what it applies; the
# namespace is created when missing, and an existing one keeps its other
# labels and annotations. DRY_RUN=1 only prints.
KUBECTL ?= kubectl
.PHONY: opt-in
opt-in: ## Opt a namespace in to drills: make opt-in NS=team-a
	@test -n "$(NS)" || { echo "usage: make opt-in NS=namespace" >&2; exit 2; }
	@set -euo pipefail; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	printf 'resources:\n- %s\nnamespace: %s\n' "$$(realpath --relative-to="$$d" manifests/opt-in)" "$(NS)" >"$$d/kustomization.yaml"; \
	$(KUBECTL) kustomize "$$d" >"$$d/opt-in.yaml"; \
	echo "# make opt-in NS=$(NS): applying"; cat "$$d/opt-in.yaml"; \
	if [ -z "$(DRY_RUN)" ]; then $(KUBECTL) apply -f "$$d/opt-in.yaml"; fi

# --- kind lab (docs/kind-lab.md); needs docker, kind, kubectl and helm. ---
EXP ?= experiments/map-panic-cascade.yaml
.PHONY: images kind-up kind-down drill dashboards

images: ## Build the victim and manager images (ghcr.io/cascadelab/{victim,manager}:dev).
	hack/kind/images.sh

kind-up: images ## kind cluster + Chaos Mesh + images + CRDs, RBAC, manager, monitoring.
	hack/kind/up.sh

kind-down: ## Delete the kind lab cluster.
	hack/kind/down.sh

drill: ## Run one drill on the kind lab: make drill EXP=experiments/….yaml (LAB=node: on the node lab)
	LAB=$(or $(LAB),kind) hack/kind/drill.sh $(EXP)

dashboards: ## Regenerate dashboards/cascade-drill.json and its manifests/monitoring copy.
	$(GO) generate ./dashboards

# --- node lab (docs/node-lab.md) ---------------------------------------------
# A single-node Kubernetes cluster built from source (no Docker, no kind, no
# registry): etcd + kube-apiserver from envtest-assets, and everything else
# below from the Go module proxy through wrapper modules under hack/node/,
# into bin/node/ (reused when present). node-up/node-down need root.
NODE_ASSETS ?= $(BIN)/node
NODE_KUBE := kubelet kube-controller-manager kube-scheduler kube-proxy kubectl
NODE_CTRD := containerd containerd-shim-runc-v2 ctr
NODE_CNI := bridge host-local loopback portmap
NODE_CNI_PKG_bridge := main/bridge
NODE_CNI_PKG_loopback := main/loopback
NODE_CNI_PKG_host-local := ipam/host-local
NODE_CNI_PKG_portmap := meta/portmap
# Binaries for the images (one layer each; static, except the cgo builds,
# whose images carry this host's glibc: victim, manager and the Chaos Mesh
# ones).
NODE_IMAGE_BINS := victim manager chaos-controller-manager chaos-daemon nsexec coredns pause

node-assets: envtest-assets $(addprefix $(NODE_ASSETS)/,$(NODE_KUBE) $(NODE_CTRD) crictl coredns chaos-daemon nsexec helm-render) $(addprefix $(NODE_ASSETS)/cni/,$(NODE_CNI)) ## Build the node lab's binaries into bin/node/.

# Same requirements and replaces as hack/envtest/apiserver (so they reuse its
# build cache) plus k8s.io/cri-streaming and k8s.io/streaming for the kubelet.
# Each group of binaries from one module is one `go build -o DIR/ pkg...` (a
# grouped target, `&:`): one package graph loaded and compiled once, the
# links two at a time instead of one build after another; go relinks only
# the binaries whose build ID is out of date.
$(addprefix $(NODE_ASSETS)/,$(NODE_KUBE)) &: hack/node/kube/go.mod hack/node/kube/go.sum
	mkdir -p $(NODE_ASSETS)
	cd hack/node/kube && $(GO) build -o $(NODE_ASSETS)/ $(addprefix k8s.io/kubernetes/cmd/,$(NODE_KUBE))

# containerd v2 (Debian's 1.6 is too old for a v1.37 kubelet); runc is Debian's
# (built here without libseccomp it fails every CRI container).
$(addprefix $(NODE_ASSETS)/,$(NODE_CTRD)) &: hack/node/containerd/go.mod hack/node/containerd/go.sum
	mkdir -p $(NODE_ASSETS)
	cd hack/node/containerd && CGO_ENABLED=0 $(GO) build -tags 'no_btrfs no_devmapper no_zfs' -o $(NODE_ASSETS)/ $(addprefix github.com/containerd/containerd/v2/cmd/,$(NODE_CTRD))

# crictl: node-down stops and removes pods through the CRI, so CNI DEL runs.
$(NODE_ASSETS)/crictl: hack/node/critools/go.mod hack/node/critools/go.sum
	mkdir -p $(@D)
	cd hack/node/critools && CGO_ENABLED=0 $(GO) build -o $@ sigs.k8s.io/cri-tools/cmd/crictl

$(addprefix $(NODE_ASSETS)/cni/,$(NODE_CNI)) &: hack/node/cni/go.mod hack/node/cni/go.sum
	mkdir -p $(NODE_ASSETS)/cni
	cd hack/node/cni && CGO_ENABLED=0 $(GO) build -o $(NODE_ASSETS)/cni/ $(foreach p,$(NODE_CNI),github.com/containernetworking/plugins/plugins/$(NODE_CNI_PKG_$(p)))

# CoreDNS with the plugins a cluster's DNS needs and no forward plugin.
$(NODE_ASSETS)/coredns: hack/node/coredns/go.mod hack/node/coredns/go.sum hack/node/coredns/main.go
	mkdir -p $(@D)
	cd hack/node/coredns && CGO_ENABLED=0 $(GO) build -o $@ .

# Chaos Mesh's chaos-daemon at hack/chaos-mesh's commit. It needs cgo
# (chaos-driver's client). Built with the same settings as the
# chaos-controller-manager of chaos-mesh-assets, so it reuses that build cache
# (a static build recompiled everything: 11.5 min here); its image carries
# this host's glibc instead (hack/node/images).
$(NODE_ASSETS)/chaos-daemon: hack/node/chaosdaemon/go.mod hack/node/chaosdaemon/go.sum
	mkdir -p $(@D)
	cd hack/node/chaosdaemon && $(GO) build -o $@ github.com/chaos-mesh/chaos-mesh/cmd/chaos-daemon

# Chaos Mesh's chart rendered offline with helm's Go SDK (hack/node/chaos-mesh.sh).
$(NODE_ASSETS)/helm-render: hack/node/helm/go.mod hack/node/helm/go.sum hack/node/helm/main.go
	mkdir -p $(@D)
	cd hack/node/helm && $(GO) build -o $@ .

# An adapter, not Chaos Mesh's nsexec (a Rust binary its image downloads):
# maps nsexec's flags onto util-linux nsenter.
$(NODE_ASSETS)/nsexec: hack/node/nsexec
	mkdir -p $(@D)
	install -m 0755 $< $@

# One-layer OCI image archives of those binaries, under the names the manifests
# and the Chaos Mesh chart use (hack/node/images); node-up imports them.
node-images: node-assets chaos-mesh-assets $(addprefix $(NODE_ASSETS)/static/,$(NODE_IMAGE_BINS))
	cd hack/node/images && $(GO) run . -bin $(NODE_ASSETS)/static -out $(NODE_ASSETS)/images

# The victim and the manager as `make test` built them (cgo, Go's own DNS
# resolver all the same: no nsswitch.conf in the image), so only the links
# run; a CGO_ENABLED=0 build recompiled 473 of their 876 packages (everything
# above net and os/user: k8s.io/api, client-go, controller-runtime), 4 min 45 s
# at load 4-7 after a cold cgo build of the two (hack/ci/README.md).
$(NODE_ASSETS)/static/victim $(NODE_ASSETS)/static/manager &: NODE_FORCE
	mkdir -p $(NODE_ASSETS)/static
	$(GO) build -o $(NODE_ASSETS)/static/ ./victim/cmd/victim ./operator/cmd/manager

# The chaos-controller-manager chaos-mesh-assets built (cgo; its image carries
# this host's glibc: a CGO_ENABLED=0 rebuild took 12.5 min here).
$(NODE_ASSETS)/static/chaos-controller-manager: $(CHAOS_MESH_ASSETS)/chaos-controller-manager
	mkdir -p $(@D)
	cp $< $@

$(NODE_ASSETS)/static/chaos-daemon $(NODE_ASSETS)/static/coredns $(NODE_ASSETS)/static/nsexec: $(NODE_ASSETS)/static/%: $(NODE_ASSETS)/%
	mkdir -p $(@D)
	cp $< $@

$(NODE_ASSETS)/static/pause: hack/node/images/go.mod $(wildcard hack/node/images/pause/*.go)
	mkdir -p $(@D)
	cd hack/node/images && CGO_ENABLED=0 $(GO) build -o $@ ./pause

node-up: node-images chaos-mesh-assets ## Start the single-node cluster and Chaos Mesh (root); KUBECONFIG=/var/lib/cascadelab-node/admin.kubeconfig.
	hack/node/up.sh

node-down: ## Stop the node lab and remove everything it created; safe to run twice.
	hack/node/down.sh

test-node: ## The node suite (root): build tag node, tests under test/node/.
	hack/node/test.sh

.PHONY: NODE_FORCE
NODE_FORCE:
