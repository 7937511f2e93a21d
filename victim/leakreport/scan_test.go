package leakreport

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func blockedReceiver(ch chan int) { <-ch }

// The fast scan finds a real leak at its blocking call, and reports
// nothing once it is gone.
func TestScanGroupsLeaks(t *testing.T) {
	r := New(CacheFor(0), GroupByPrefix("github.com/cascadelab/cascadelab/victim/leakreport"), IgnoreCurrent())
	if rep := r.Report(); rep.Leaked != 0 || len(rep.Groups) != 0 {
		t.Fatalf("clean report: %+v", rep)
	}
	ch := make(chan int)
	var wg, started sync.WaitGroup
	for range 5 {
		wg.Add(1)
		started.Add(1)
		go func() { defer wg.Done(); started.Done(); blockedSender(ch) }()
	}
	started.Wait()
	rep := r.Report()
	for range 5 {
		<-ch
	}
	wg.Wait()
	if rep.Leaked != 5 || len(rep.Groups) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	g := rep.Groups[0]
	if g.Function != "github.com/cascadelab/cascadelab/victim/leakreport.blockedSender" || g.Count != 5 ||
		!strings.Contains(g.Stack, "[chan send") {
		t.Errorf("group %+v", g)
	}
	if rep := r.Report(); rep.Leaked != 0 {
		t.Errorf("after the leak ended: %+v", rep)
	}
}

// A goroutine that the first dump sees but that ends before the re-check
// is not a leak.
func TestScanSkipsGoroutinesThatEnd(t *testing.T) {
	r := New(CacheFor(0), IgnoreCurrent())
	ch := make(chan int)
	done := make(chan struct{})
	go func() { defer close(done); blockedReceiver(ch) }() // found at once, whatever its top frame
	firstSaw := false
	r.afterFirstDump = func() { firstSaw = true; close(ch); <-done }
	if rep := r.Report(); rep.Leaked != 0 || !firstSaw {
		t.Errorf("a goroutine that ended before the re-check was reported (first dump saw it: %v): %+v", firstSaw, rep)
	}
	// With no re-check it is reported as the first dump saw it.
	now := IgnoreCurrent()
	ch2 := make(chan int)
	go blockedReceiver(ch2)
	defer close(ch2)
	if rep := New(CacheFor(0), now, RecheckAfter(0)).Report(); rep.Leaked != 1 {
		t.Errorf("RecheckAfter(0): %+v", rep)
	}
}

// The fast scan and goleak.Find agree on what leaked and what is ignored
// (by any function, by top function, by IgnoreCurrent).
func TestScanMatchesGoleak(t *testing.T) {
	before := goleak.IgnoreCurrent()
	fast := IgnoreCurrent()
	stop := make(chan struct{})
	var wg, started sync.WaitGroup
	run := func(f func(*sync.WaitGroup)) {
		wg.Add(1)
		started.Add(1)
		go func() { defer wg.Done(); f(&started) }()
	}
	var mu sync.Mutex
	mu.Lock()
	for range 3 {
		run(func(s *sync.WaitGroup) { leakedReceiver(s, stop) })  // leaked
		run(func(s *sync.WaitGroup) { lockedOut(s, &mu) })        // leaked
		run(func(s *sync.WaitGroup) { ignoredAnywhere(s, stop) }) // ignored: function on the stack
		run(func(s *sync.WaitGroup) { ignoredAtTop(s, stop) })    // ignored: top function
	}
	// Each has called Done inside the function that names it.
	started.Wait()
	defer func() { close(stop); mu.Unlock(); wg.Wait() }()
	common := []Option{CacheFor(0), GroupByPrefix("github.com/cascadelab/cascadelab/victim/leakreport"),
		IgnoreFunctions("github.com/cascadelab/cascadelab/victim/leakreport.ignoredAnywhere"),
		IgnoreTopFunctions("github.com/cascadelab/cascadelab/victim/leakreport.ignoredAtTop")}
	a := New(append(common, fast)...).Report()
	b := New(append(common, WithGoleakOptions(before))...).Report()
	if a.Leaked != 6 || b.Leaked != 6 || len(a.Groups) != 2 || !sameGroups(a.Groups, b.Groups) {
		t.Errorf("fast scan %+v\ngoleak     %+v", a, b)
	}
}

func blockedReceiverStop(stop chan struct{}) { <-stop }

func leakedReceiver(started *sync.WaitGroup, stop chan struct{}) { started.Done(); <-stop }

func lockedOut(started *sync.WaitGroup, mu *sync.Mutex) { started.Done(); mu.Lock(); mu.Unlock() }

func ignoredAnywhere(started *sync.WaitGroup, stop chan struct{}) {
	started.Done()
	blockedReceiverStop(stop)
}

func ignoredAtTop(started *sync.WaitGroup, stop chan struct{}) {
	started.Done()
	<-stop
}

func sameGroups(a, b []Group) bool {
	key := func(gs []Group) []string {
		var k []string
		for _, g := range gs {
			k = append(k, g.Function+"/"+string(rune('0'+g.Count)))
		}
		sort.Strings(k)
		return k
	}
	return strings.Join(key(a), ",") == strings.Join(key(b), ",")
}

func TestParseHeader(t *testing.T) {
	for _, c := range []struct {
		line    string
		id      int
		state   string
		minutes int
		ok      bool
	}{
		{"goroutine 7 [chan send]:", 7, "chan send", 0, true},
		{"goroutine 12 [chan send, 5 minutes]:", 12, "chan send", 5, true},
		{"goroutine 3 [select, 61 minutes, locked to thread]:", 3, "select", 61, true},
		{"goroutine 9 gp=0xc000002380 m=nil [sync.WaitGroup.Wait, 2 minutes]:", 9, "sync.WaitGroup.Wait", 2, true},
		{"goroutine 4 [chan receive (leaked), 3 minutes]:", 4, "chan receive (leaked)", 3, true},
		{"main.f()", 0, "", 0, false},
	} {
		id, state, minutes, ok := parseHeader(c.line)
		if id != c.id || state != c.state || minutes != c.minutes || ok != c.ok {
			t.Errorf("%q: got %d %q %d %v", c.line, id, state, minutes, ok)
		}
	}
}

// The report and each group carry the longest time blocked.
func TestOldestBlocked(t *testing.T) {
	dump := "goroutine 7 [chan send, 3 minutes]:\nmain.a()\n\t/x.go:1\n\n" +
		"goroutine 8 [chan send, 9 minutes]:\nmain.a()\n\t/x.go:1\n\n" +
		"goroutine 9 [select]:\nmain.b()\n\t/x.go:2\n"
	rep := New().group(splitStacks(dump))
	if rep.Leaked != 3 || rep.OldestBlockedMinutes != 9 || len(rep.Groups) != 2 {
		t.Fatalf("%+v", rep)
	}
	if g := rep.Groups[0]; g.Function != "main.a" || g.Count != 2 || g.OldestBlockedMinutes != 9 {
		t.Errorf("group %+v", g)
	}
	if g := rep.Groups[1]; g.Function != "main.b" || g.OldestBlockedMinutes != 0 {
		t.Errorf("group %+v", g)
	}
}

// A cached report says how old it is; a fresh one is 0 seconds old.
func TestCachedReportAge(t *testing.T) {
	srv := httptest.NewServer(New(CacheFor(time.Minute), IgnoreCurrent()))
	defer srv.Close()
	c := &http.Client{}
	defer c.CloseIdleConnections()
	var reps []Report
	// Two requests over one keep-alive connection: the second report sees
	// the server's connection goroutine and the client's transport loops
	// (ServerIgnores), from the cache.
	for range 2 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		err = json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		if err != nil || rep.Leaked != 0 || rep.Groups == nil {
			t.Fatalf("%+v, %v", rep, err)
		}
		reps = append(reps, rep)
	}
	if reps[0].AgeSeconds != 0 || !reps[1].At.Equal(reps[0].At) || reps[1].AgeSeconds <= 0 {
		t.Errorf("fresh age %v, cached age %v (at %v, %v)", reps[0].AgeSeconds, reps[1].AgeSeconds, reps[0].At, reps[1].At)
	}
	// Uncached, the connection goroutines are ignored by ServerIgnores.
	if rep := New(CacheFor(0), IgnoreCurrent()).Report(); rep.Leaked != 0 {
		t.Errorf("with a served connection open: %+v", rep)
	}
}
