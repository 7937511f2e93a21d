package leakreport

import (
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// BenchmarkReport measures one /debug/goleak report (goleak.Find plus the
// grouping) with 1 k and 10 k extra goroutines, either all ignored (a clean
// report, the common case) or all leaked (goleak then retries for ~0.4 s+).
func BenchmarkReport(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		for _, leaked := range []bool{false, true} {
			b.Run(fmt.Sprintf("goroutines=%d/leaked=%v", n, leaked), func(b *testing.B) {
				base := goleak.IgnoreCurrent() // the benchmark framework's own goroutines
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range n {
					wg.Add(1)
					go parked(stop, &wg)
				}
				opts := []Option{WithGoleakOptions(base)}
				if !leaked {
					opts = append(opts, IgnoreFunctions("github.com/cascadelab/cascadelab/victim/leakreport.parked"))
				}
				r := New(append(opts, CacheFor(0))...)
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

func parked(stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-stop
}
