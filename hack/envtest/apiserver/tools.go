//go:build tools

// Package apiserver pins k8s.io/kubernetes so that its kube-apiserver can be built.
package apiserver

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
