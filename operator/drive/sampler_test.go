package drive

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// stubSampler reads the targets it is handed with the driver's scraper and
// stamps each batch as taken age before it was handed out, as an observer
// running on its own ticker would.
type stubSampler struct {
	mu      sync.Mutex
	scraper *observe.Scraper
	age     time.Duration
	calls   int
	last    time.Time
}

func (s *stubSampler) Sample(targets []observe.Target) (time.Time, []observe.Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	taken := time.Now().Add(-s.age)
	s.last = taken
	return taken, s.scraper.ScrapeAll(context.Background(), 0, targets), true
}

// With a Sampler the driver takes its observations from it, each stamped
// with the time the sampler took it (not the Step's), and the drill still
// runs to its verdict.
func TestSamplerTakesTheObservations(t *testing.T) {
	b := newFlaky(t, 0)
	s := &stubSampler{age: 150 * time.Millisecond}
	drv, err := New(shortSpec(), b, WithInterval(200*time.Millisecond),
		WithSampler(func(sc *observe.Scraper) Sampler { s.scraper = sc; return s }),
		WithEngineOptions(engine.WithSettle(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lastAt time.Duration
	for !drv.Done() && ctx.Err() == nil {
		next, _ := drv.Step(ctx, time.Now())
		s.mu.Lock()
		if !s.last.IsZero() {
			lastAt = drv.Offset(s.last)
		}
		s.mu.Unlock()
		time.Sleep(min(next, 100*time.Millisecond))
	}
	if !drv.Done() {
		t.Fatal("the drill did not finish within a minute")
	}
	if s.calls < 5 {
		t.Fatalf("the sampler was asked %d times, want an observation from it every interval", s.calls)
	}
	lo := drv.Engine().Status().LastObservation
	if lo == nil || lo.Duration != lastAt {
		t.Errorf("last observation at %v, want the sampler's stamp %v (the time it was taken)", lo, lastAt)
	}
}
