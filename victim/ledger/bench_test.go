package ledger_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/cascadelab/cascadelab/victim/ledger"
)

// BenchmarkCharge measures one charge of a new order, sequentially.
func BenchmarkCharge(b *testing.B) {
	for _, mode := range []string{ledger.ModeCAS, ledger.ModeNone} {
		b.Run(mode, func(b *testing.B) {
			s, err := ledger.Open(b.TempDir(), mode, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for i := range b.N {
				if _, err := s.ChargeOrder(context.Background(), "o"+strconv.Itoa(i), 100); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChargeParallel measures charges of new orders from many
// goroutines at once (4×GOMAXPROCS and 64 per GOMAXPROCS), with group
// commit and with one transaction per charge (Serial): ns/op is the store's
// cost per charge when charges arrive together.
func BenchmarkChargeParallel(b *testing.B) {
	for _, v := range []struct {
		name string
		opts []ledger.Option
	}{{"group", nil}, {"serial", []ledger.Option{ledger.Serial()}}} {
		for _, par := range []int{4, 64} {
			b.Run(fmt.Sprintf("%s/par=%d", v.name, par), func(b *testing.B) {
				s, err := ledger.Open(b.TempDir(), ledger.ModeCAS, 0, v.opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var n atomic.Int64
				prefix := fmt.Sprintf("p%d-", b.N)
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.ChargeOrder(context.Background(), prefix+strconv.FormatInt(n.Add(1), 10), 100); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
