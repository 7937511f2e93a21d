//go:build tools

// Package critools pins cri-tools so that crictl can be built (see the
// Makefile's node-assets).
package critools

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
