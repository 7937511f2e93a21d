// Package lab checks the kind lab where kind cannot run (`make test`): the
// kind config decodes strictly with kind's own types, every kustomize base
// under manifests/ renders and passes server-side dry-run against envtest's
// API server (pod templates against the namespaces' Pod Security level),
// every experiment in experiments/ does too, and Prometheus' config passes
// promtool. The real kind path is test/e2e (build tag e2e).
package lab
