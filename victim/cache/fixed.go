package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// mutexCache guards one map with one sync.Mutex.
type mutexCache struct {
	mu sync.Mutex
	m  map[string]Entry
}

func newMutex() *mutexCache { return &mutexCache{m: make(map[string]Entry)} }

func (c *mutexCache) Get(id string) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e, ok
}

func (c *mutexCache) LoadOrStore(e Entry) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[e.ID]; ok {
		return old, true
	}
	c.m[e.ID] = e
	return e, false
}

func (c *mutexCache) Put(e Entry) {
	c.mu.Lock()
	c.m[e.ID] = e
	c.mu.Unlock()
}

// Touch sets the Touched time of id's entry under the lock.
func (c *mutexCache) Touch(id string, at time.Time) {
	c.mu.Lock()
	if e, ok := c.m[id]; ok {
		e.Touched = at
		c.m[id] = e
	}
	c.mu.Unlock()
}

func (c *mutexCache) Do(_ string, fn func()) { fn() }

func (c *mutexCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *mutexCache) Close() {}

// shard is one RWMutex-guarded map, padded against false sharing.
type shard struct {
	mu sync.RWMutex
	m  map[string]Entry
	_  [64]byte
}

// sharded spreads orders over N RWMutex-guarded maps by ID hash (seed 4.1).
type sharded struct{ shards []shard }

func newSharded(n int) *sharded {
	s := &sharded{shards: make([]shard, n)}
	for i := range s.shards {
		s.shards[i].m = make(map[string]Entry)
	}
	return s
}

func (c *sharded) shard(id string) *shard { return &c.shards[shardOf(id, len(c.shards))] }

func (c *sharded) Get(id string) (Entry, bool) {
	s := c.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.m[id]
	return e, ok
}

func (c *sharded) LoadOrStore(e Entry) (Entry, bool) {
	s := c.shard(e.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[e.ID]; ok {
		return old, true
	}
	s.m[e.ID] = e
	return e, false
}

func (c *sharded) Put(e Entry) {
	s := c.shard(e.ID)
	s.mu.Lock()
	s.m[e.ID] = e
	s.mu.Unlock()
}

// Touch sets the Touched time of id's entry under its shard's lock.
func (c *sharded) Touch(id string, at time.Time) {
	s := c.shard(id)
	s.mu.Lock()
	if e, ok := s.m[id]; ok {
		e.Touched = at
		s.m[id] = e
	}
	s.mu.Unlock()
}

func (c *sharded) Do(_ string, fn func()) { fn() }

func (c *sharded) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

func (c *sharded) Close() {}

// syncMap is a sync.Map (a HashTrieMap since Go 1.24).
type syncMap struct {
	m sync.Map
	n atomic.Int64
}

func (c *syncMap) Get(id string) (Entry, bool) {
	v, ok := c.m.Load(id)
	if !ok {
		return Entry{}, false
	}
	return v.(Entry), true
}

func (c *syncMap) LoadOrStore(e Entry) (Entry, bool) {
	v, loaded := c.m.LoadOrStore(e.ID, e)
	if !loaded {
		c.n.Add(1)
	}
	return v.(Entry), loaded
}

func (c *syncMap) Put(e Entry) {
	if _, loaded := c.m.Swap(e.ID, e); !loaded {
		c.n.Add(1)
	}
}

// Touch sets the Touched time of id's entry with a compare-and-swap, so a
// concurrent Put (a payment marked PAID) is never overwritten.
func (c *syncMap) Touch(id string, at time.Time) {
	if v, ok := c.m.Load(id); ok {
		e := v.(Entry)
		e.Touched = at
		c.m.CompareAndSwap(id, v, e)
	}
}

func (c *syncMap) Do(_ string, fn func()) { fn() }

func (c *syncMap) Len() int { return int(c.n.Load()) }

func (c *syncMap) Close() {}
