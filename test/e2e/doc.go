// Package e2e runs the kind lab for real, on a machine with Docker and the
// internet: `make kind-up`, each drill applied and awaited with `make drill`,
// its verdict asserted, the dashboard's queries checked against the lab's
// Prometheus, then `make kind-down`. It is behind the build tag e2e and not
// part of `make test`:
//
//	go test -tags e2e -v -timeout 60m ./test/e2e/
//
// Set CASCADELAB_E2E_KEEP=1 to keep the cluster afterwards. See
// docs/kind-lab.md.
package e2e
