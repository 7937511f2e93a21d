package leakscan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cascadelab/cascadelab/operator/observe"
	"github.com/maruel/panicparse/v2/stack"
)

// ServerIgnores are goroutines any Go HTTP service runs on purpose: its
// servers and their connections, client transports and signal handling
// (the victim's own list, less its ledger). Match is by any function on
// the stack.
var ServerIgnores = []string{
	"net/http.(*conn).serve",
	"net/http.(*connReader).backgroundRead",
	"net/http.(*Server).Serve",
	"net/http.(*Server).ListenAndServe",
	"net/http.(*persistConn).readLoop",
	"net/http.(*persistConn).writeLoop",
	"net/http.(*http2ClientConn).readLoop",
	"net/http.(*Transport).dialConnFor",
	"net/http.(*http2serverConn).serve",
	"os/signal.loop",
	"os/signal.signal_recv",
	"os/signal.NotifyContext.func1",
	"database/sql.(*DB).connectionOpener",
	"net/http/pprof.Index",
	"net/http/pprof.handler.ServeHTTP",
}

// blocked reports whether a goroutine state is a wait that a leak stays
// in: a channel operation, a select, a lock, a wait group or a condition.
func blocked(state string) bool {
	for _, p := range []string{"chan send", "chan receive", "select", "sync.Mutex.Lock", "sync.RWMutex.Lock",
		"sync.RWMutex.RLock", "sync.WaitGroup.Wait", "sync.Cond.Wait", "semacquire"} {
		if strings.HasPrefix(state, p) {
			return true
		}
	}
	return false
}

// candidate applies goleak's rules (v1.3.0's default filters and the
// ignore list by any function) to a blocked goroutine.
func (s *Scanner) candidate(g *stack.Goroutine) bool {
	if !blocked(g.State) || len(g.Stack.Calls) == 0 {
		return false
	}
	top := g.Stack.Calls[0].Func.Complete
	if strings.HasPrefix(top, "testing.") && strings.HasPrefix(g.State, "chan receive") {
		return false
	}
	for _, c := range g.Stack.Calls {
		f := c.Func.Complete
		if s.ignore[f] || f == "runtime.ensureSigM" || f == "runtime.ReadTrace" {
			return false
		}
	}
	return true
}

// sameWait reports whether b, a later look at goroutine a, waits on the
// same operation at the same place.
func sameWait(a, b *stack.Goroutine) bool {
	if a.State != b.State || len(a.Stack.Calls) != len(b.Stack.Calls) {
		return false
	}
	for i := range a.Stack.Calls {
		ca, cb := a.Stack.Calls[i], b.Stack.Calls[i]
		if ca.Func.Complete != cb.Func.Complete || ca.Line != cb.Line {
			return false
		}
	}
	return true
}

// proven reports the goroutines the runtime's leak profile marks leaked.
func proven(gs []*stack.Goroutine, leakPath string) observe.LeakReport {
	var leaked []*stack.Goroutine
	for _, g := range gs {
		if strings.Contains(g.State, "(leaked)") {
			leaked = append(leaked, g)
		}
	}
	return group(leaked, "proven leaked by the runtime's "+leakPath)
}

// group groups leaked goroutines by the first function outside the
// runtime and the standard sync and channel code; each group's function
// names how the leak was established (why).
func group(leaked []*stack.Goroutine, why string) observe.LeakReport {
	rep := observe.LeakReport{Leaked: int64(len(leaked)), Groups: []observe.LeakGroup{}}
	byFn := map[string]*observe.LeakGroup{}
	for _, g := range leaked {
		fn := groupFunction(g)
		lg := byFn[fn]
		if lg == nil {
			lg = &observe.LeakGroup{Function: fmt.Sprintf("%s [%s: %s]", fn, g.State, why), Stack: stackText(g)}
			byFn[fn] = lg
		}
		lg.Count++
		rep.OldestBlockedMinutes = max(rep.OldestBlockedMinutes, g.SleepMax)
	}
	for _, lg := range byFn {
		rep.Groups = append(rep.Groups, *lg)
	}
	sort.Slice(rep.Groups, func(i, j int) bool {
		if rep.Groups[i].Count != rep.Groups[j].Count {
			return rep.Groups[i].Count > rep.Groups[j].Count
		}
		return rep.Groups[i].Function < rep.Groups[j].Function
	})
	return rep
}

func groupFunction(g *stack.Goroutine) string {
	for _, c := range g.Stack.Calls {
		f := c.Func.Complete
		if !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "sync.") && !strings.HasPrefix(f, "internal/") {
			return f
		}
	}
	return g.Stack.Calls[0].Func.Complete
}

// stackText is a short sample stack: up to 8 frames, as function and line.
func stackText(g *stack.Goroutine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "goroutine %d [%s]:\n", g.ID, g.State)
	for i, c := range g.Stack.Calls {
		if i == 8 {
			b.WriteString("...\n")
			break
		}
		fmt.Fprintf(&b, "%s\n\t%s:%d\n", c.Func.Complete, c.RemoteSrcPath, c.Line)
	}
	return b.String()
}
