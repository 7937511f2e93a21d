//go:build tools

// Package prometheus pins the Prometheus server's module at the release the
// kind lab deploys (v3.5.0 = module v0.305.0), so that the Makefile's
// prometheus-assets can build bin/prometheus from the Go module proxy for
// the dashboards' tests. It is built without the builtinassets tag: the
// server runs and serves its HTTP API, only the web UI's pages are absent.
package prometheus

import _ "github.com/prometheus/prometheus/cmd/prometheus"
