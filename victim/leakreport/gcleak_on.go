//go:build goexperiment.goroutineleakprofile

package leakreport

import (
	"bytes"
	"fmt"
	"runtime/pprof"
)

// gcLeaked runs the runtime's GC-based goroutineleak profile and returns the
// number of goroutines it proves leaked.
func gcLeaked() *int {
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, 1); err != nil {
		return nil
	}
	var n int
	if _, err := fmt.Sscanf(buf.String(), "goroutineleak profile: total %d", &n); err != nil {
		return nil
	}
	return &n
}
