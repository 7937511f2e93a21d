# cascadelab — make targets. `make test` is what CI runs (.ci/run).
SHELL := /usr/bin/env bash
GO ?= go
BIN ?= $(CURDIR)/bin
K8S_ASSETS ?= $(BIN)/k8s
CONTROLLER_GEN ?= $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
export KUBEBUILDER_ASSETS ?= $(K8S_ASSETS)

.PHONY: all build test test-short vet envtest-assets chaos-mesh-assets prometheus-assets manifests bench clean

all: build

build: ## Build the CLI, the victim and the manager into bin/.
	$(GO) build -o $(BIN)/ ./cmd/cascadelab ./victim/cmd/victim ./operator/cmd/manager

vet:
	$(GO) vet ./...

# Test binaries are compiled in parallel first; then packages run one at a
# time (-p 1), because drills judge real processes and a 2-core machine
# running two drills at once makes their latency figures meaningless.
test: envtest-assets chaos-mesh-assets prometheus-assets vet ## Everything CI runs.
	$(GO) test -count=1 -run '^$$' ./... >/dev/null
	$(GO) test -count=1 -p 1 -timeout 60m ./...

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

# --- kind lab (docs/kind-lab.md); needs docker, kind, kubectl and helm. ---
EXP ?= experiments/map-panic-cascade.yaml
.PHONY: images kind-up kind-down drill dashboards

images: ## Build the victim and manager images (ghcr.io/cascadelab/{victim,manager}:dev).
	hack/kind/images.sh

kind-up: images ## kind cluster + Chaos Mesh + images + CRDs, RBAC, manager, monitoring.
	hack/kind/up.sh

kind-down: ## Delete the kind lab cluster.
	hack/kind/down.sh

drill: ## Run one drill on the kind lab: make drill EXP=experiments/….yaml
	hack/kind/drill.sh $(EXP)

dashboards: ## Regenerate dashboards/cascade-drill.json and its manifests/monitoring copy.
	$(GO) generate ./dashboards
