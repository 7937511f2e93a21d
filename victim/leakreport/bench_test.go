package leakreport

import (
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// BenchmarkReport measures one /debug/goleak report with 1 k and 10 k extra
// goroutines, either all ignored (a clean report, the common case) or all
// leaked, made by the Reporter's own scan (scan=fast: one stack dump, or
// three over RecheckAfter when something is found) and by goleak.Find
// (scan=goleak, WithGoleakOptions: goleak retries ~20 times when it finds
// anything). hack/measure/leaks.sh runs the two interleaved.
func BenchmarkReport(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		for _, leaked := range []bool{false, true} {
			for _, scan := range []string{"fast", "goleak"} {
				b.Run(fmt.Sprintf("goroutines=%d/leaked=%v/scan=%s", n, leaked, scan), func(b *testing.B) {
					// The benchmark framework's own goroutines.
					opts := []Option{IgnoreCurrent(), CacheFor(0)}
					if scan == "goleak" {
						opts = []Option{WithGoleakOptions(goleak.IgnoreCurrent()), CacheFor(0)}
					}
					stop := make(chan struct{})
					var wg sync.WaitGroup
					for range n {
						wg.Add(1)
						go parked(stop, &wg)
					}
					if !leaked {
						opts = append(opts, IgnoreFunctions("github.com/cascadelab/cascadelab/victim/leakreport.parked"))
					}
					r := New(opts...)
					b.ResetTimer()
					for range b.N {
						rep := r.Report()
						if leaked && rep.Leaked < n || !leaked && rep.Leaked != 0 {
							b.Fatalf("leaked %d", rep.Leaked)
						}
					}
					b.StopTimer()
					close(stop)
					wg.Wait()
				})
			}
		}
	}
}

func parked(stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-stop
}
