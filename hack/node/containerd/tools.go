//go:build tools

// Package containerd pins containerd v2 so that its daemon, runc shim and ctr
// can be built (see the Makefile's node-assets).
package containerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
