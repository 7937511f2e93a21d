// Package leakscan finds leaked goroutines in any Go service from outside,
// from what net/http/pprof already serves, and judges them kit-side the way
// the kit's own victim judges itself (victim/leakreport):
//
//   - Where the service serves Go's goroutine leak profile
//     (/debug/pprof/goroutineleak: Go 1.26 built with
//     GOEXPERIMENT=goroutineleakprofile, Go 1.27 and later), the runtime's
//     GC proves which goroutines can never run again; those are reported,
//     as the strongest evidence, and each group says so.
//   - Otherwise the goroutine dump (/debug/pprof/goroutine?debug=2) is read
//     twice, a pause apart. A goroutine is leaked when it is not ignored by
//     goleak's rules (its default filters and the HTTP server's own
//     goroutines), was not there at the first scan of its process (the
//     service's long-lived workers), and is blocked on the same operation
//     (a channel send or receive, a select, a mutex, a wait group or a
//     condition) at the same line in both dumps.
//
// Dumps are parsed with github.com/maruel/panicparse/v2/stack, a maintained
// parser of Go's goroutine dumps, which never reads local source files
// here. Every read is bounded in bytes (WithMaxBytes) and time (the
// caller's context), and no redirect is followed.
package leakscan
