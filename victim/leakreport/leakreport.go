// Package leakreport serves goleak.Find as a JSON report: how many
// goroutines leaked and where, grouped by the first function of this module
// on their stacks, with one sample stack per group.
//
// goleak stops the world to dump stacks and, when it finds something, retries
// for about half a second before giving up, so a Reporter runs one report at a
// time and caches the last one briefly. Never call it on a hot path.
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
}

// Report is the JSON body of /debug/goleak.
type Report struct {
	Leaked int     `json:"leaked"`
	Groups []Group `json:"groups"`
	// GCLeaked is the number of goroutines the runtime's GC-based
	// goroutineleak profile proves leaked; present only in binaries built
	// with GOEXPERIMENT=goroutineleakprofile.
	GCLeaked *int `json:"gcLeaked,omitempty"`
	// TookSeconds is how long goleak.Find took.
	TookSeconds float64 `json:"took_seconds"`
	// At is when the report was made.
	At time.Time `json:"at"`
}

// ServerIgnores are the goroutines every victim process runs on purpose: HTTP
// servers and their connections, client transports, signal handling,
// database/sql's opener. Match is by any function on the stack.
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
}

type options struct {
	ignore   []string
	ttl      time.Duration
	module   string
	extraOpt []goleak.Option
}

// Option configures New.
type Option func(*options)

// IgnoreFunctions ignores goroutines with any of the named functions
// (package-qualified, as in a stack trace) anywhere on their stacks.
func IgnoreFunctions(fns ...string) Option {
	return func(o *options) { o.ignore = append(o.ignore, fns...) }
}

// WithGoleakOptions passes extra options to goleak.Find.
func WithGoleakOptions(opts ...goleak.Option) Option {
	return func(o *options) { o.extraOpt = append(o.extraOpt, opts...) }
}

// CacheFor sets how long a report is reused (default 1 s; at least twice
// the time the last report took). Zero disables the cache.
func CacheFor(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// GroupByPrefix sets the function-name prefix that names a group: the first
// frame from the top whose function starts with it (default this module's
// victim packages). The top frame is used when no frame matches.
func GroupByPrefix(p string) Option { return func(o *options) { o.module = p } }

// Reporter makes leak reports, one at a time.
type Reporter struct {
	opts options
	mu   sync.Mutex
	last *Report
}

// New returns a Reporter ignoring ServerIgnores and the given extras.
func New(opts ...Option) *Reporter {
	o := options{ttl: time.Second, module: "github.com/cascadelab/cascadelab/victim"}
	o.ignore = append(o.ignore, ServerIgnores...)
	for _, opt := range opts {
		opt(&o)
	}
	return &Reporter{opts: o}
}

// Report returns a fresh report, or the cached one if it is young enough.
func (r *Reporter) Report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last != nil {
		// Reuse for the cache time, and for at least twice as long as the
		// last report took, so frequent scrapes of a process with many
		// leaked goroutines cannot keep it stopping the world.
		ttl := max(r.opts.ttl, 2*time.Duration(r.last.TookSeconds*float64(time.Second)))
		if r.opts.ttl > 0 && time.Since(r.last.At) < ttl {
			return *r.last
		}
	}
	rep := r.find()
	r.last = &rep
	return rep
}

func (r *Reporter) goleakOptions() []goleak.Option {
	opts := make([]goleak.Option, 0, len(r.opts.ignore)+len(r.opts.extraOpt)+1)
	for _, f := range r.opts.ignore {
		opts = append(opts, goleak.IgnoreAnyFunction(f))
	}
	// The reporter's own caller: the goroutine running Report.
	opts = append(opts, goleak.IgnoreAnyFunction("github.com/cascadelab/cascadelab/victim/leakreport.(*Reporter).ServeHTTP"))
	return append(opts, r.opts.extraOpt...)
}

var leakedIDRe = regexp.MustCompile(`(?m)^\s*\[?Goroutine (\d+) in state `)

func (r *Reporter) find() Report {
	start := time.Now()
	err := goleak.Find(r.goleakOptions()...)
	rep := Report{Groups: []Group{}, At: time.Now()}
	rep.TookSeconds = time.Since(start).Seconds()
	rep.GCLeaked = gcLeaked()
	if err == nil {
		return rep
	}
	ids := map[int]bool{}
	for _, m := range leakedIDRe.FindAllStringSubmatch(err.Error(), -1) {
		if id, e := strconv.Atoi(m[1]); e == nil {
			ids[id] = true
		}
	}
	// goleak's error holds each leaked goroutine's stack; take them from one
	// fresh dump of all goroutines, keyed by the IDs goleak named.
	byFn := map[string]*Group{}
	for _, st := range splitStacks(allStacks()) {
		if !ids[st.id] {
			continue
		}
		rep.Leaked++
		fn := st.groupFunction(r.opts.module)
		g := byFn[fn]
		if g == nil {
			g = &Group{Function: fn, Stack: st.text}
			byFn[fn] = g
		}
		g.Count++
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

func allStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

type gstack struct {
	id    int
	text  string
	funcs []string // functions from the top, without "created by"
}

var headerRe = regexp.MustCompile(`^goroutine (\d+) \[`)

func splitStacks(dump string) []gstack {
	var out []gstack
	for _, block := range strings.Split(dump, "\n\n") {
		block = strings.TrimSpace(block)
		lines := strings.Split(block, "\n")
		m := headerRe.FindStringSubmatch(lines[0])
		if m == nil {
			continue
		}
		id, _ := strconv.Atoi(m[1])
		st := gstack{id: id, text: block}
		for _, l := range lines[1:] {
			if l == "" || l[0] == '\t' || strings.HasPrefix(l, "created by ") {
				continue
			}
			st.funcs = append(st.funcs, funcName(l))
		}
		out = append(out, st)
	}
	return out
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
