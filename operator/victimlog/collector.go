package victimlog

import (
	"bytes"
	"io"
	"slices"
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
	lost    []Record            // duplicate charges with no other event of their order
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
	if rec.Event.Event != events.DuplicateDeduct || len(c.wanted) >= MaxCandidates && len(c.lost) >= MaxChains {
		return
	}
	// Everything already seen of this order, from every process. The
	// orders service writes its events before it calls the ledger, so a
	// duplicate whose order has no event elsewhere had its events lost (a
	// replaced pod's log, a ring overrun): it is a candidate only as a
	// last resort.
	var seen []Record
	for _, pr := range c.rings {
		pr.each(func(x Record) {
			if x.OrderID == rec.OrderID {
				seen = append(seen, x)
			}
		})
	}
	if len(seen) <= 1 {
		if len(c.lost) < MaxChains {
			c.lost = append(c.lost, rec)
		}
		return
	}
	if len(c.wanted) < MaxCandidates {
		c.wanted = append(c.wanted, rec.OrderID)
		c.pinned[rec.OrderID] = nil
		for _, x := range seen {
			c.pin(x)
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
	var unknown []Chain
	for _, id := range c.wanted {
		recs := append([]Record(nil), c.pinned[id]...)
		// Crashes of the processes involved belong in the chain too.
		for _, cc := range c.crashes {
			recs = append(recs, Record{Process: cc.Process, Event: events.Event{TS: cc.TS, Event: events.Crash, Error: cc.Headline}})
		}
		// The first MaxChains that can be reconstructed; those whose
		// events were lost only when there are not enough of them.
		if ch := reconstruct(id, recs); ch.Window == WindowUnknown {
			unknown = append(unknown, ch)
		} else if len(ev.Races) < MaxChains {
			ev.Races = append(ev.Races, ch)
		}
	}
	for _, d := range c.lost {
		unknown = append(unknown, reconstruct(d.OrderID, []Record{d}))
	}
	for _, ch := range unknown {
		if len(ev.Races) < MaxChains {
			ev.Races = append(ev.Races, ch)
		}
	}
	slices.SortStableFunc(ev.Races, func(a, b Chain) int { return cmpInt(dupTS(a), dupTS(b)) })
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

// Feed takes a whole log of process (as read from a file or the API), line
// by line.
func (c *Collector) Feed(process string, log []byte) {
	w := c.Writer(process)
	w.Write(log)
	w.Close()
}

// AddCrash records a crash context built elsewhere (CrashContextFromLog),
// for a crash whose log was read after the fact, as in a cluster.
func (c *Collector) AddCrash(cc CrashContext) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.crashes) < MaxCrashes {
		c.crashes = append(c.crashes, cc)
	}
}

// CrashContextFromLog builds the crash context of process from the end of
// the log it wrote before it crashed (the previous container's log, in a
// cluster): its last CrashContextEvents victim events. ts is when it
// crashed, microseconds since the Unix epoch.
func CrashContextFromLog(process string, ts int64, headline string, log []byte) CrashContext {
	r := &ring{}
	for _, line := range bytes.Split(log, []byte("\n")) {
		if len(line) > 0 {
			r.push(Parse(process, line))
		}
	}
	return CrashContext{Process: process, TS: ts, Headline: headline, Before: r.lastEvents(CrashContextEvents)}
}

// dupTS is when a chain's duplicate deduction happened (0 if unknown).
func dupTS(ch Chain) int64 {
	for _, r := range ch.Events {
		if r.Event.Event == events.DuplicateDeduct {
			return r.TS
		}
	}
	return 0
}
