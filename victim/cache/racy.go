package cache

import (
	"sync"
	"time"
)

// racy is the incident's cache: a plain map written by every request with no
// synchronisation, plus a janitor goroutine that ranges over it to evict old
// entries. Under concurrent load on two or more cores the runtime detects the
// overlap and kills the process with "fatal error: concurrent map writes"
// (or the read / iteration variants). That is a fatal throw, not a panic:
// recover() cannot catch it.
type racy struct {
	m    map[string]*Entry
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newRacy(o options) *racy {
	c := &racy{m: make(map[string]*Entry), stop: make(chan struct{})}
	c.wg.Add(1)
	go c.janitor(o.janitorTick, o.ttl)
	return c
}

func (c *racy) Get(id string) (Entry, bool) {
	e, ok := c.m[id] // unsynchronised read
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

func (c *racy) LoadOrStore(e Entry) (Entry, bool) {
	if old, ok := c.m[e.ID]; ok { // check ...
		return *old, true
	}
	c.m[e.ID] = &e // ... then act, unsynchronised
	return e, false
}

func (c *racy) Put(e Entry) { c.m[e.ID] = &e } // unsynchronised write

// Touch rewrites id's entry with a new Touched time: a read and a write of
// the map, unsynchronised like every other access.
func (c *racy) Touch(id string, at time.Time) {
	if old, ok := c.m[id]; ok {
		e := *old
		e.Touched = at
		c.m[id] = &e
	}
}

func (c *racy) Do(_ string, fn func()) { fn() }

func (c *racy) Len() int { return len(c.m) }

func (c *racy) Close() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
}

// janitor ranges over the map every tick and evicts entries older than ttl,
// as real caches do. The range races with every request's write.
func (c *racy) janitor(tick, ttl time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			for k, e := range c.m { // unsynchronised iteration
				if now.Sub(e.Touched) > ttl {
					delete(c.m, k)
				}
			}
		}
	}
}
