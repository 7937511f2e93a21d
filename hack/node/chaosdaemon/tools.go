//go:build tools

// Package chaosdaemon pins Chaos Mesh's root module at the same commit as
// hack/chaos-mesh (same requirements and replaces, so the Go build cache is
// shared) so that its chaos-daemon can be built for the node lab.
package chaosdaemon

import _ "github.com/chaos-mesh/chaos-mesh/cmd/chaos-daemon"
