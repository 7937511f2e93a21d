package ledger_test

import (
	"context"
	"strconv"
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
