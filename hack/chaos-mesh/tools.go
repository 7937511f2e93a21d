//go:build tools

// Package chaosmesh pins Chaos Mesh's root module so that its
// chaos-controller-manager can be built (see the Makefile's chaos-mesh-assets).
package chaosmesh

import _ "github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager"
