// Command victim is cascadelab's deliberately racy payment service. Run
// "victim --help" for its roles and flags.
//
// The victim runs with at least two Ps (GOMAXPROCS 2) unless GOMAXPROCS is
// set: a process confined to one CPU (taskset, a one-CPU laptop VM) would
// otherwise get one P, and with one P the runtime never runs two map
// operations at the same time, so the racy cache could never crash. Two Ps
// is what Go (1.25 and later) gives a pod whose CPU limit is below 2 on a
// node of two or more CPUs: the victim behaves on one CPU as it would there,
// its threads interleaved by the kernel instead of running side by side.
package main

import (
	"os"
	"runtime"

	"github.com/cascadelab/cascadelab/victim"
)

// minProcs is the fewest Ps the victim runs with when GOMAXPROCS is unset.
const minProcs = 2

func main() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < minProcs {
		runtime.GOMAXPROCS(minProcs)
	}
	os.Exit(victim.Main(os.Args[1:], os.Stdout, os.Stderr))
}
