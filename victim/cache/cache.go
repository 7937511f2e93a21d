// Package cache holds the orders service's order cache, behind one interface
// with five strategies: the incident's unsynchronised map (Racy) and four
// fixes (Mutex, Sharded, SyncMap, Serialized).
//
// Every strategy is only a cache: a mirror of the ledger, not the truth. None
// of them makes "check the cache, call the ledger, mark paid" atomic across
// the ledger call except Serialized, and Serialized only within one process.
package cache

import (
	"fmt"
	"hash/maphash"
	"time"
)

// Entry is one cached order.
type Entry struct {
	ID          string
	AmountCents int64
	Status      string
	// Touched is when the entry was last written; the racy janitor evicts
	// entries by it.
	Touched time.Time
}

// Cache is an order cache.
type Cache interface {
	// Get returns the cached entry for id.
	Get(id string) (Entry, bool)
	// LoadOrStore returns the existing entry for e.ID if there is one
	// (loaded = true), or stores e and returns it.
	LoadOrStore(e Entry) (actual Entry, loaded bool)
	// Put stores e, replacing any entry for e.ID.
	Put(e Entry)
	// Touch sets the Touched time of id's entry, if there is one, so an
	// evicting cache keeps it; safe to call from any goroutine. A pending
	// payment calls it while it waits on the ledger.
	Touch(id string, at time.Time)
	// Do runs fn for the order id. Serialized runs fn on the order's shard
	// worker, one fn at a time per shard; every other strategy calls fn
	// directly on the calling goroutine.
	Do(id string, fn func())
	// Len returns the number of cached entries (approximate for Racy).
	Len() int
	// Close stops the cache's background goroutines.
	Close()
}

// Strategy names, as accepted by the --cache flag.
const (
	Racy       = "racy"
	Mutex      = "mutex"
	Sharded    = "sharded"
	SyncMap    = "syncmap"
	Serialized = "serialized"
)

// Strategies lists every strategy name, the incident first.
var Strategies = []string{Racy, Mutex, Sharded, SyncMap, Serialized}

// DefaultShards is the shard count of Sharded and the worker count of
// Serialized.
const DefaultShards = 64

type options struct {
	shards      int
	janitorTick time.Duration
	ttl         time.Duration
}

// Option configures New.
type Option func(*options)

// WithShards sets the number of shards (Sharded) or workers (Serialized).
func WithShards(n int) Option { return func(o *options) { o.shards = max(1, n) } }

// Defaults of the racy cache's janitor: a sweep every 10ms evicting entries
// older than 30s.
const (
	DefaultJanitorInterval = 10 * time.Millisecond
	DefaultTTL             = 30 * time.Second
)

// WithJanitor sets how often the Racy janitor ranges over the map and how
// old an entry must be before it is evicted.
func WithJanitor(tick, ttl time.Duration) Option {
	return func(o *options) { o.janitorTick, o.ttl = tick, ttl }
}

// New returns the cache for the named strategy.
func New(strategy string, opts ...Option) (Cache, error) {
	o := options{shards: DefaultShards, janitorTick: DefaultJanitorInterval, ttl: DefaultTTL}
	for _, opt := range opts {
		opt(&o)
	}
	switch strategy {
	case Racy:
		return newRacy(o), nil
	case Mutex:
		return newMutex(), nil
	case Sharded:
		return newSharded(o.shards), nil
	case SyncMap:
		return &syncMap{}, nil
	case Serialized:
		return newSerialized(o.shards), nil
	}
	return nil, fmt.Errorf("unknown cache strategy %q (want one of %v)", strategy, Strategies)
}

var seed = maphash.MakeSeed()

func shardOf(id string, n int) int {
	return int(maphash.String(seed, id) % uint64(n))
}
