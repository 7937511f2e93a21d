// Package victim is cascadelab's deliberately racy payment service: one
// binary whose role (gateway, orders, ledger or loadgen) and failure modes
// are chosen by flag. Main parses the flags and runs one role until SIGTERM
// or SIGINT; the roles themselves live in the orders, ledger, gateway and
// loadgen packages and can be run in-process for tests and benchmarks.
//
// Every role serves an admin port with /metrics, /healthz, /readyz,
// /debug/pprof/ and /debug/goleak; gateway, orders and ledger also serve an
// app port.
package victim
