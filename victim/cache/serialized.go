package cache

import (
	"sync"
	"time"
)

// serialized hashes each order ID to one of N workers (seed 4.2). Each worker
// owns a plain map and runs the functions sent to it one at a time, so Do
// serialises the whole pay flow for an ID within this process. Get, Put and
// LoadOrStore touch the worker's map without a lock: call them only from
// inside Do for the same ID. Across two replicas nothing is serialised.
type serialized struct {
	workers []worker
	wg      sync.WaitGroup
	once    sync.Once
}

type worker struct {
	jobs chan job
	m    map[string]Entry
}

type job struct {
	fn   func()
	done chan struct{}
}

func newSerialized(n int) *serialized {
	c := &serialized{workers: make([]worker, n)}
	for i := range c.workers {
		c.workers[i] = worker{jobs: make(chan job), m: make(map[string]Entry)}
		c.wg.Add(1)
		go c.workers[i].run(&c.wg)
	}
	return c
}

func (w *worker) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for j := range w.jobs {
		j.fn()
		close(j.done)
	}
}

func (c *serialized) worker(id string) *worker { return &c.workers[shardOf(id, len(c.workers))] }

// Do runs fn on id's worker and waits for it. A panic in fn is re-raised on
// the caller's goroutine so the worker survives it.
func (c *serialized) Do(id string, fn func()) {
	var p any
	j := job{done: make(chan struct{}), fn: func() {
		defer func() { p = recover() }()
		fn()
	}}
	c.worker(id).jobs <- j
	<-j.done
	if p != nil {
		panic(p)
	}
}

func (c *serialized) Get(id string) (Entry, bool) {
	e, ok := c.worker(id).m[id]
	return e, ok
}

func (c *serialized) LoadOrStore(e Entry) (Entry, bool) {
	w := c.worker(e.ID)
	if old, ok := w.m[e.ID]; ok {
		return old, true
	}
	w.m[e.ID] = e
	return e, false
}

func (c *serialized) Put(e Entry) { c.worker(e.ID).m[e.ID] = e }

// Touch does nothing: serialized evicts nothing, and its maps may be
// touched only from their workers, which a pending payment is blocking.
func (c *serialized) Touch(string, time.Time) {}

// Len counts entries by visiting every worker.
func (c *serialized) Len() int {
	n := 0
	for i := range c.workers {
		w := &c.workers[i]
		done := make(chan struct{})
		w.jobs <- job{fn: func() { n += len(w.m) }, done: done}
		<-done
	}
	return n
}

func (c *serialized) Close() {
	c.once.Do(func() {
		for i := range c.workers {
			close(c.workers[i].jobs)
		}
	})
	c.wg.Wait()
}
