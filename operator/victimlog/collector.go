package victimlog

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/cascadelab/cascadelab/victim/events"
)

// Collector gathers the lines of every process of one drill. It is safe
// for concurrent use; its memory is bounded (see the package doc).
type Collector struct {
	mu      sync.Mutex
	rings   map[string]*ring
	wanted  []string            // orders charged twice, in the order seen
	pinned  map[string][]Record // their events
	crashes []CrashContext
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector {
	return &Collector{rings: map[string]*ring{}, pinned: map[string][]Record{}}
}

// Line takes one output line of process (without its newline).
func (c *Collector) Line(process string, line []byte) {
	rec := Parse(process, line)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(rec)
}

func (c *Collector) add(rec Record) {
	r := c.rings[rec.Process]
	if r == nil {
		r = &ring{}
		c.rings[rec.Process] = r
	}
	r.push(rec)
	if rec.OrderID == "" {
		return
	}
	if _, ok := c.pinned[rec.OrderID]; ok {
		c.pin(rec)
		return
	}
	if rec.Event.Event == events.DuplicateDeduct && len(c.wanted) < MaxChains {
		c.wanted = append(c.wanted, rec.OrderID)
		c.pinned[rec.OrderID] = nil
		// Everything already seen of this order, from every process.
		for _, pr := range c.rings {
			pr.each(func(x Record) {
				if x.OrderID == rec.OrderID {
					c.pin(x)
				}
			})
		}
	}
}

func (c *Collector) pin(rec Record) {
	if p := c.pinned[rec.OrderID]; len(p) < MaxChainEvents {
		c.pinned[rec.OrderID] = append(p, rec)
	}
}

// Crash records that process died at at with the fatal headline; the
// crash's context is the process's last events collected so far, so call
// it after the dead process's output has been read to its end.
func (c *Collector) Crash(process string, at time.Time, headline string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := Record{Process: process, Event: events.Event{TS: at.UnixMicro(), Event: events.Crash, Error: headline}}
	if len(c.crashes) < MaxCrashes {
		cc := CrashContext{Process: process, TS: rec.TS, Headline: headline}
		if r := c.rings[process]; r != nil {
			cc.Before = r.lastEvents(CrashContextEvents)
		}
		c.crashes = append(c.crashes, cc)
	}
	c.add(rec)
}

// Evidence reconstructs the double charges and crash contexts seen so far.
func (c *Collector) Evidence() Evidence {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ev Evidence
	for _, id := range c.wanted {
		recs := append([]Record(nil), c.pinned[id]...)
		// Crashes of the processes involved belong in the chain too.
		for _, cc := range c.crashes {
			recs = append(recs, Record{Process: cc.Process, Event: events.Event{TS: cc.TS, Event: events.Crash, Error: cc.Headline}})
		}
		ev.Races = append(ev.Races, reconstruct(id, recs))
	}
	ev.Crashes = append(ev.Crashes, c.crashes...)
	return ev
}

// Writer returns an io.WriteCloser that splits what is written into lines
// and gives each to Line for process. Close flushes a last line without a
// newline. It is for one stream (a child's stdout or stderr).
func (c *Collector) Writer(process string) io.WriteCloser {
	return &lineWriter{c: c, process: process}
}

type lineWriter struct {
	c       *Collector
	process string
	mu      sync.Mutex
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(w.partial) < MaxLineBytes {
				w.partial = append(w.partial, p[:min(len(p), MaxLineBytes-len(w.partial))]...)
			}
			break
		}
		line := p[:i]
		if len(w.partial) > 0 {
			line = append(w.partial, line[:min(len(line), max(0, MaxLineBytes-len(w.partial)))]...)
			w.partial = w.partial[:0]
		}
		w.c.Line(w.process, bytes.TrimRight(line, "\r"))
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.c.Line(w.process, w.partial)
		w.partial = nil
	}
	return nil
}

// ring keeps the last RingSize records of one process.
type ring struct {
	buf  [RingSize]Record
	next int
	full bool
}

func (r *ring) push(rec Record) {
	r.buf[r.next] = rec
	r.next = (r.next + 1) % RingSize
	if r.next == 0 {
		r.full = true
	}
}

// each calls f on every record, oldest first.
func (r *ring) each(f func(Record)) {
	if r.full {
		for _, x := range r.buf[r.next:] {
			f(x)
		}
	}
	for _, x := range r.buf[:r.next] {
		f(x)
	}
}

// lastEvents returns the last n victim events (raw lines skipped), oldest
// first.
func (r *ring) lastEvents(n int) []Record {
	var out []Record
	r.each(func(x Record) {
		if x.Event.Event == "" {
			return
		}
		out = append(out, x)
		if len(out) > n {
			out = out[1:]
		}
	})
	return out
}
