//go:build tools

// Package kube pins k8s.io/kubernetes so that the node lab's components can be
// built from it (see the Makefile's node-assets). Same requirements and
// replaces as hack/envtest/apiserver, plus cri-streaming and streaming, which
// the kubelet needs and the apiserver does not; the Go build cache is shared.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
