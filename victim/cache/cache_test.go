package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStrategies(t *testing.T) {
	for _, s := range Strategies {
		t.Run(s, func(t *testing.T) {
			c, err := New(s, WithShards(4), WithJanitor(time.Hour, time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Do("a", func() {
				if _, ok := c.Get("a"); ok {
					t.Error("empty cache has a")
				}
				if got, loaded := c.LoadOrStore(Entry{ID: "a", Status: "PREPARE", Touched: time.Now()}); loaded || got.Status != "PREPARE" {
					t.Errorf("first LoadOrStore = %+v, %v", got, loaded)
				}
				if got, loaded := c.LoadOrStore(Entry{ID: "a", Status: "X"}); !loaded || got.Status != "PREPARE" {
					t.Errorf("second LoadOrStore = %+v, %v", got, loaded)
				}
				c.Put(Entry{ID: "a", Status: "PAID", Touched: time.Now()})
				if got, ok := c.Get("a"); !ok || got.Status != "PAID" {
					t.Errorf("Get after Put = %+v, %v", got, ok)
				}
			})
			if n := c.Len(); n != 1 {
				t.Errorf("Len = %d, want 1", n)
			}
		})
	}
	if _, err := New("nope"); err == nil {
		t.Error("unknown strategy accepted")
	}
}

// TestFixedConcurrent: the fixed strategies under -race: exactly one
// LoadOrStore per key stores.
func TestFixedConcurrent(t *testing.T) {
	for _, s := range []string{Mutex, Sharded, SyncMap, Serialized} {
		t.Run(s, func(t *testing.T) {
			c, _ := New(s)
			defer c.Close()
			var mu sync.Mutex
			stored := map[string]int{}
			var wg sync.WaitGroup
			for g := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 200 {
						id := fmt.Sprintf("k%d", (i+g)%50)
						c.Do(id, func() {
							if _, loaded := c.LoadOrStore(Entry{ID: id}); !loaded {
								mu.Lock()
								stored[id]++
								mu.Unlock()
							}
							c.Put(Entry{ID: id, Status: "PAID"})
						})
					}
				}()
			}
			wg.Wait()
			for id, n := range stored {
				if n != 1 {
					t.Errorf("%s stored %d times", id, n)
				}
			}
			if len(stored) != 50 || c.Len() != 50 {
				t.Errorf("stored %d keys, Len %d, want 50", len(stored), c.Len())
			}
		})
	}
}

func TestRacyJanitorEvicts(t *testing.T) {
	if raceEnabled {
		t.Skip("the racy cache races with its janitor by design")
	}
	c, _ := New(Racy, WithJanitor(time.Millisecond, time.Millisecond))
	defer c.Close()
	c.Put(Entry{ID: "old", Touched: time.Now().Add(-time.Hour)})
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if _, ok := c.Get("old"); ok {
		t.Error("janitor did not evict an hour-old entry")
	}
}

func TestSerializedRunsOnOneWorkerPerShard(t *testing.T) {
	c, _ := New(Serialized, WithShards(1))
	defer c.Close()
	var active, maxActive int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Do(fmt.Sprint(i), func() {
				mu.Lock()
				active++
				maxActive = max(maxActive, active)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				active--
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	if maxActive != 1 {
		t.Errorf("max concurrent fns on one shard = %d, want 1", maxActive)
	}
}

func TestSerializedPanicReachesCaller(t *testing.T) {
	c, _ := New(Serialized, WithShards(1))
	defer c.Close()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic not re-raised")
			}
		}()
		c.Do("x", func() { panic("boom") })
	}()
	ran := false
	c.Do("x", func() { ran = true })
	if !ran {
		t.Error("worker died with the panic")
	}
}

// TestTouch: Touch moves an existing entry's Touched time and nothing else,
// and does nothing for an unknown ID (serialized ignores it: it evicts
// nothing).
func TestTouch(t *testing.T) {
	for _, name := range Strategies {
		t.Run(name, func(t *testing.T) {
			c, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t0 := time.Unix(100, 0)
			later := t0.Add(time.Minute)
			var got Entry
			var ok bool
			c.Do("a", func() {
				c.Put(Entry{ID: "a", AmountCents: 5, Status: "PAID", Touched: t0})
				c.Touch("a", later)
				c.Touch("missing", later)
				got, ok = c.Get("a")
			})
			want := later
			if name == Serialized {
				want = t0
			}
			if !ok || got.Status != "PAID" || got.AmountCents != 5 || !got.Touched.Equal(want) {
				t.Errorf("after Touch: %+v %v, want PAID 5 touched %v", got, ok, want)
			}
			if _, ok := c.Get("missing"); ok && name != Serialized {
				t.Errorf("Touch created an entry")
			}
		})
	}
}
