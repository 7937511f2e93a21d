// Package leakreport serves a goroutine leak report as JSON: how many
// goroutines leaked and where, grouped by the first function of this module
// on their stacks, with one sample stack per group.
//
// A report applies go.uber.org/goleak's rules (v1.3.0: ignore a goroutine
// with a named function anywhere on its stack, or at its top, or alive when
// IgnoreCurrent was called; goleak's own default filters for the testing
// package, signal handling, cgo syscalls and the tracer) to one dump of all
// stacks. goleak.Find itself, when it finds anything, dumps and parses every
// stack up to 21 times over about half a second before it reports: 14–20 s
// at 10 k leaked goroutines on a busy 2-core machine. A Reporter instead
// re-checks what the first dump found once, after a settle time
// (RecheckAfter, default 500 ms), and reports the goroutines still there:
// two dumps at most, one when nothing is found. Every dump
// stops the world, so a Reporter runs one report at a time, caches the last
// one briefly, and says how old the report it serves is. Never call it on a
// hot path.
package leakreport

import (
	"encoding/json"
	"net/http"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/goleak"
)

// Group is the leaked goroutines that share a top function.
type Group struct {
	Function string `json:"function"`
	Count    int    `json:"count"`
	Stack    string `json:"stack"`
	// OldestBlockedMinutes is how long the group's longest-blocked
	// goroutine has been blocked, in whole minutes, as the runtime prints it
	// in the stack header ("[chan send, 5 minutes]"); 0 when under a minute
	// or not known (see Report.OldestBlockedMinutes).
	OldestBlockedMinutes int `json:"oldest_blocked_minutes"`
}

// Report is the JSON body of /debug/goleak.
type Report struct {
	Leaked int     `json:"leaked"`
	Groups []Group `json:"groups"`
	// OldestBlockedMinutes is how long the longest-blocked leaked goroutine
	// has been blocked, in whole minutes, from the runtime's stack headers.
	// The runtime stamps a blocked goroutine at the first garbage
	// collection after it blocked (a GC runs at least every 2 minutes) and
	// prints only whole minutes from 1 up, so the figure is a lower bound
	// and 0 means under a minute (or never stamped yet).
	OldestBlockedMinutes int `json:"oldest_blocked_minutes"`
	// GCLeaked is the number of goroutines the runtime's GC-based
	// goroutineleak profile proves leaked; present only in binaries built
	// with GOEXPERIMENT=goroutineleakprofile.
	GCLeaked *int `json:"gcLeaked,omitempty"`
	// TookSeconds is how long making the report took.
	TookSeconds float64 `json:"took_seconds"`
	// At is when the report was made.
	At time.Time `json:"at"`
	// AgeSeconds is how old the report was when it was served: 0 for a
	// fresh one, more for one reused from the cache.
	AgeSeconds float64 `json:"age_seconds"`
}

// ServerIgnores are the goroutines every victim process runs on purpose: HTTP
// servers and their connections, client transports, signal handling,
// database/sql's opener, the ledger's group-commit writer. Match is by any
// function on the stack.
var ServerIgnores = []string{
	"net/http.(*conn).serve",
	"net/http.(*connReader).backgroundRead",
	"net/http.(*Server).Serve",
	"net/http.(*Server).ListenAndServe",
	"net/http.(*persistConn).readLoop",
	"net/http.(*persistConn).writeLoop",
	"net/http.(*http2ClientConn).readLoop",
	"net/http.(*Transport).dialConnFor",
	"os/signal.loop",
	"os/signal.signal_recv",
	"os/signal.NotifyContext.func1",
	"database/sql.(*DB).connectionOpener",
	"github.com/cascadelab/cascadelab/victim/ledger.(*Store).writer",
}

// DefaultRecheckAfter is how long a goroutine found by the first dump must
// stay before it is reported, by default: about goleak.Find's own window
// (its back-off sleeps add up to ~0.43 s). With 100 ms, a loaded drill
// reported 300 goroutines of a bounded gateway waiting on a mutex that
// neither goleak nor a 500 ms re-check reported.
const DefaultRecheckAfter = 500 * time.Millisecond

type options struct {
	ignore    []string
	ignoreTop []string
	ignoreIDs map[int]bool
	ttl       time.Duration
	recheck   time.Duration
	module    string
	extraOpt  []goleak.Option
}

// Option configures New.
type Option func(*options)

// IgnoreFunctions ignores goroutines with any of the named functions
// (package-qualified, as in a stack trace) anywhere on their stacks
// (goleak.IgnoreAnyFunction).
func IgnoreFunctions(fns ...string) Option {
	return func(o *options) { o.ignore = append(o.ignore, fns...) }
}

// IgnoreTopFunctions ignores goroutines whose top frame is one of the named
// functions (goleak.IgnoreTopFunction).
func IgnoreTopFunctions(fns ...string) Option {
	return func(o *options) { o.ignoreTop = append(o.ignoreTop, fns...) }
}

// IgnoreCurrent ignores the goroutines alive when it is called
// (goleak.IgnoreCurrent).
func IgnoreCurrent() Option {
	ids := map[int]bool{}
	for _, st := range splitStacks(allStacks()) {
		ids[st.id] = true
	}
	return func(o *options) {
		if o.ignoreIDs == nil {
			o.ignoreIDs = map[int]bool{}
		}
		for id := range ids {
			o.ignoreIDs[id] = true
		}
	}
}

// WithGoleakOptions makes the Reporter run goleak.Find with these options
// (and the ignore lists) instead of its own scan.
//
// Deprecated: goleak's options can only be applied by goleak.Find, which
// dumps every stack up to 21 times when it finds anything (14–20 s at 10 k
// leaked goroutines). Use IgnoreFunctions, IgnoreTopFunctions and
// IgnoreCurrent, which the fast scan applies.
func WithGoleakOptions(opts ...goleak.Option) Option {
	return func(o *options) { o.extraOpt = append(o.extraOpt, opts...) }
}

// CacheFor sets how long a report is reused (default 1 s; at least twice
// the time the last report took). Zero disables the cache.
func CacheFor(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// RecheckAfter sets how long a goroutine found by the first stack dump must
// still be there to be reported (default DefaultRecheckAfter): goroutines
// that were merely busy or in flight have ended by then. The re-check is
// one more dump, looking at the first dump's findings only. Zero reports
// the first dump as it is.
func RecheckAfter(d time.Duration) Option { return func(o *options) { o.recheck = d } }

// GroupByPrefix sets the function-name prefix that names a group: the first
// frame from the top whose function starts with it (default this module's
// victim packages). The top frame is used when no frame matches.
func GroupByPrefix(p string) Option { return func(o *options) { o.module = p } }

// Reporter makes leak reports, one at a time.
type Reporter struct {
	opts   options
	ignore map[string]bool
	top    map[string]bool
	mu     sync.Mutex
	last   *Report
	// afterFirstDump, when set (tests), runs after a first dump that
	// found something, before the re-check.
	afterFirstDump func()
}

// selfFunction is the reporter's own caller on a server: the goroutine
// serving /debug/goleak (and any waiting for the lock) is not a leak.
const selfFunction = "github.com/cascadelab/cascadelab/victim/leakreport.(*Reporter).ServeHTTP"

// New returns a Reporter ignoring ServerIgnores and the given extras.
func New(opts ...Option) *Reporter {
	o := options{ttl: time.Second, recheck: DefaultRecheckAfter, module: "github.com/cascadelab/cascadelab/victim"}
	o.ignore = append(o.ignore, ServerIgnores...)
	for _, opt := range opts {
		opt(&o)
	}
	r := &Reporter{opts: o, ignore: map[string]bool{selfFunction: true}, top: map[string]bool{}}
	for _, f := range o.ignore {
		r.ignore[f] = true
	}
	for _, f := range o.ignoreTop {
		r.top[f] = true
	}
	return r
}

// Report returns a fresh report, or the cached one if it is young enough
// (its AgeSeconds then says how old).
func (r *Reporter) Report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last != nil {
		// Reuse for the cache time, and for at least twice as long as the
		// last report took, so frequent scrapes of a process with many
		// leaked goroutines cannot keep it stopping the world.
		ttl := max(r.opts.ttl, 2*time.Duration(r.last.TookSeconds*float64(time.Second)))
		if age := time.Since(r.last.At); r.opts.ttl > 0 && age < ttl {
			rep := *r.last
			rep.AgeSeconds = age.Seconds()
			return rep
		}
	}
	start := time.Now()
	var leaked []gstack
	if len(r.opts.extraOpt) > 0 {
		leaked = r.findGoleak()
	} else {
		leaked = r.find()
	}
	rep := r.group(leaked)
	rep.GCLeaked = gcLeaked()
	rep.At = time.Now()
	rep.TookSeconds = rep.At.Sub(start).Seconds()
	r.last = &rep
	return rep
}

// find is the fast scan: one dump; if it finds anything, a second dump
// after the re-check time, keeping what is still there and still not
// ignored. (runtime.Stack is nearly all of the cost: ~0.2 s per dump at
// 10 k goroutines on a busy 2-core machine, parsing under a tenth of it.)
func (r *Reporter) find() []gstack {
	self := currentID()
	cands := map[int]gstack{}
	for _, st := range splitStacks(allStacks()) {
		if st.id != self && !r.ignored(st) {
			cands[st.id] = st
		}
	}
	if len(cands) > 0 && r.afterFirstDump != nil {
		r.afterFirstDump()
	}
	if len(cands) > 0 && r.opts.recheck > 0 {
		time.Sleep(r.opts.recheck)
		still := make(map[int]gstack, len(cands))
		for _, st := range splitStacksOf(allStacks(), cands) {
			if !r.ignored(st) {
				still[st.id] = st
			}
		}
		cands = still
	}
	out := make([]gstack, 0, len(cands))
	for _, st := range cands {
		out = append(out, st)
	}
	return out
}

// ignored applies goleak's rules: the ignore lists, IgnoreCurrent's IDs,
// and goleak's default filters.
func (r *Reporter) ignored(st gstack) bool {
	if r.opts.ignoreIDs[st.id] {
		return true
	}
	if len(st.funcs) > 0 && r.top[st.funcs[0]] {
		return true
	}
	for _, f := range st.funcs {
		if r.ignore[f] {
			return true
		}
	}
	return goleakDefault(st)
}

// goleakDefault is goleak v1.3.0's default filters (isTestStack,
// isSyscallStack, isStdLibStack, isTraceStack).
func goleakDefault(st gstack) bool {
	first := ""
	if len(st.funcs) > 0 {
		first = st.funcs[0]
	}
	switch first {
	case "testing.RunTests", "testing.(*T).Run", "testing.(*T).Parallel", "testing.runFuzzing", "testing.runFuzzTests":
		if strings.HasPrefix(st.state, "chan receive") {
			return true
		}
	case "os/signal.signal_recv", "os/signal.loop":
		return true
	}
	return st.has("runtime.goexit") && strings.HasPrefix(st.state, "syscall") ||
		st.has("runtime.ensureSigM") || st.has("runtime.ReadTrace")
}

var leakedIDRe = regexp.MustCompile(`(?m)^\s*\[?Goroutine (\d+) in state `)

// findGoleak is the slow path (WithGoleakOptions): goleak.Find with its
// retries; the leaked goroutines' IDs come from its error, their stacks
// from one fresh dump.
func (r *Reporter) findGoleak() []gstack {
	opts := make([]goleak.Option, 0, len(r.ignore)+len(r.top)+len(r.opts.extraOpt))
	for f := range r.ignore {
		opts = append(opts, goleak.IgnoreAnyFunction(f))
	}
	for f := range r.top {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	err := goleak.Find(append(opts, r.opts.extraOpt...)...)
	if err == nil {
		return nil
	}
	ids := map[int]gstack{}
	for _, m := range leakedIDRe.FindAllStringSubmatch(err.Error(), -1) {
		if id, e := strconv.Atoi(m[1]); e == nil {
			ids[id] = gstack{}
		}
	}
	return splitStacksOf(allStacks(), ids)
}

// group counts the leaked goroutines by function.
func (r *Reporter) group(leaked []gstack) Report {
	rep := Report{Groups: []Group{}, Leaked: len(leaked)}
	sort.Slice(leaked, func(i, j int) bool { return leaked[i].id < leaked[j].id })
	byFn := map[string]*Group{}
	for _, st := range leaked {
		fn := st.groupFunction(r.opts.module)
		g := byFn[fn]
		if g == nil {
			g = &Group{Function: fn, Stack: st.text}
			byFn[fn] = g
		}
		g.Count++
		g.OldestBlockedMinutes = max(g.OldestBlockedMinutes, st.minutes)
		rep.OldestBlockedMinutes = max(rep.OldestBlockedMinutes, st.minutes)
	}
	for _, g := range byFn {
		rep.Groups = append(rep.Groups, *g)
	}
	sort.Slice(rep.Groups, func(i, j int) bool {
		if rep.Groups[i].Count != rep.Groups[j].Count {
			return rep.Groups[i].Count > rep.Groups[j].Count
		}
		return rep.Groups[i].Function < rep.Groups[j].Function
	})
	return rep
}

// ServeHTTP answers with the JSON report.
func (r *Reporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	rep := r.Report()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

func allStacks() string { return stacks(true) }

func stacks(all bool) string {
	buf := make([]byte, 1<<20)
	if !all {
		buf = buf[:4<<10]
	}
	for {
		n := runtime.Stack(buf, all)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// currentID is the calling goroutine's ID.
func currentID() int {
	st := splitStacks(stacks(false))
	if len(st) == 0 {
		return -1
	}
	return st[0].id
}

type gstack struct {
	id      int
	state   string // "chan send", "running", ...
	minutes int    // blocked for, from the header; 0 when not printed
	text    string
	funcs   []string // functions from the top, without "created by"
}

func (s gstack) has(fn string) bool {
	for _, f := range s.funcs {
		if f == fn {
			return true
		}
	}
	return false
}

// splitStacks parses a runtime.Stack dump of all goroutines.
func splitStacks(dump string) []gstack { return splitStacksOf(dump, nil) }

// splitStacksOf parses the goroutines of a dump whose IDs are in only (all
// when only is nil), reading just the header line of the others.
func splitStacksOf(dump string, only map[int]gstack) []gstack {
	var out []gstack
	for len(dump) > 0 {
		block := dump
		if i := strings.Index(dump, "\n\n"); i >= 0 {
			block, dump = dump[:i], dump[i+2:]
		} else {
			dump = ""
		}
		block = strings.TrimSpace(block)
		header, rest, _ := strings.Cut(block, "\n")
		id, state, minutes, ok := parseHeader(header)
		if !ok {
			continue
		}
		if only != nil {
			if _, want := only[id]; !want {
				continue
			}
		}
		st := gstack{id: id, state: state, minutes: minutes, text: block}
		for _, l := range strings.Split(rest, "\n") {
			if l == "" || l[0] == '\t' {
				continue
			}
			if strings.HasPrefix(l, "created by ") {
				break
			}
			st.funcs = append(st.funcs, funcName(l))
		}
		out = append(out, st)
	}
	return out
}

// parseHeader reads "goroutine 7 [chan send, 5 minutes]:" (the runtime may
// add fields before the bracket or after the wait reason).
func parseHeader(line string) (id int, state string, minutes int, ok bool) {
	rest, found := strings.CutPrefix(line, "goroutine ")
	if !found {
		return 0, "", 0, false
	}
	num, rest, _ := strings.Cut(rest, " ")
	id, err := strconv.Atoi(num)
	if err != nil {
		return 0, "", 0, false
	}
	open, end := strings.IndexByte(rest, '['), strings.LastIndexByte(rest, ']')
	if open < 0 || end < open {
		return 0, "", 0, false
	}
	parts := strings.Split(rest[open+1:end], ", ")
	for _, p := range parts[1:] {
		if m, found := strings.CutSuffix(p, " minutes"); found {
			minutes, _ = strconv.Atoi(m)
		}
	}
	return id, parts[0], minutes, true
}

// funcName strips the argument list from a stack frame line.
func funcName(line string) string {
	if i := strings.LastIndex(line, "("); i > 0 && strings.HasSuffix(line, ")") {
		return line[:i]
	}
	return line
}

func (s gstack) groupFunction(prefix string) string {
	for _, f := range s.funcs {
		if strings.HasPrefix(f, prefix) {
			return f
		}
	}
	if len(s.funcs) > 0 {
		return s.funcs[0]
	}
	return "unknown"
}
