package cache

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCache measures each fixed strategy (and racy at g=1, where it is
// safe) at 1, 8 and 64 goroutines and 10 % / 90 % writes over 100 k keys.
// ns/op is per operation across all goroutines. Serialized pays a channel
// round-trip to its worker per operation, as the orders flow does.
func BenchmarkCache(b *testing.B) {
	const keys = 100_000
	ids := make([]string, keys)
	for i := range ids {
		ids[i] = "order-" + strconv.Itoa(i)
	}
	for _, s := range Strategies {
		for _, g := range []int{1, 8, 64} {
			if s == Racy && g > 1 {
				continue // it would crash the benchmark binary
			}
			for _, writes := range []int{10, 90} {
				b.Run(fmt.Sprintf("%s/g=%d/writes=%d%%", s, g, writes), func(b *testing.B) {
					c, _ := New(s, WithJanitor(time.Hour, time.Hour))
					defer c.Close()
					for _, id := range ids {
						c.Do(id, func() { c.Put(Entry{ID: id}) })
					}
					var next atomic.Int64
					per := b.N / g
					var wg sync.WaitGroup
					b.ResetTimer()
					for w := range g {
						n := per
						if w == 0 {
							n += b.N % g
						}
						wg.Add(1)
						go func() {
							defer wg.Done()
							x := uint64(next.Add(1)) * 0x9e3779b97f4a7c15
							for i := range n {
								x ^= x << 13
								x ^= x >> 7
								x ^= x << 17
								id := ids[x%keys]
								if int(x>>40%100) < writes {
									c.Do(id, func() { c.Put(Entry{ID: id, Status: "PAID"}) })
								} else {
									c.Do(id, func() { c.Get(id) })
								}
								_ = i
							}
						}()
					}
					wg.Wait()
				})
			}
		}
	}
}
