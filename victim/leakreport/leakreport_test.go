package leakreport

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// gcLeakVictim goroutines leak on purpose in the goroutineleakprofile test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/cascadelab/cascadelab/victim/leakreport.gcLeakVictim"))
}

func blockedSender(ch chan int) { ch <- 1 }

func TestReportGroupsLeaks(t *testing.T) {
	r := New(CacheFor(0), GroupByPrefix("github.com/cascadelab/cascadelab/victim/leakreport"),
		WithGoleakOptions(goleak.IgnoreCurrent()))
	if rep := r.Report(); rep.Leaked != 0 || len(rep.Groups) != 0 {
		t.Fatalf("clean report: %+v", rep)
	}
	ch := make(chan int)
	for range 5 {
		go blockedSender(ch)
	}
	defer func() {
		for range 5 {
			<-ch
		}
	}()
	rep := r.Report()
	if rep.Leaked != 5 || len(rep.Groups) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	g := rep.Groups[0]
	if g.Function != "github.com/cascadelab/cascadelab/victim/leakreport.blockedSender" || g.Count != 5 ||
		!strings.Contains(g.Stack, "[chan send") {
		t.Errorf("group %+v", g)
	}
}

func TestServerIgnores(t *testing.T) {
	srv := httptest.NewServer(New(CacheFor(time.Minute), WithGoleakOptions(goleak.IgnoreCurrent())))
	defer srv.Close()
	c := &http.Client{}
	defer c.CloseIdleConnections()
	// Two requests over one keep-alive connection: the second report sees
	// the server's connection goroutine and the client's transport loops.
	for i := range 2 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		err = json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		if err != nil || rep.Leaked != 0 || rep.Groups == nil {
			t.Errorf("request %d: %+v, %v", i, rep, err)
		}
	}
}

func TestSplitStacks(t *testing.T) {
	dump := "goroutine 7 [chan send]:\nmain.leak(0x1)\n\t/x.go:3 +0x1\ngithub.com/cascadelab/cascadelab/victim/gateway.f()\n\t/y.go:1\ncreated by main.main in goroutine 1\n\t/x.go:9\n\ngoroutine 8 [running]:\nmain.x()\n\t/x.go:1\n"
	st := splitStacks(dump)
	if len(st) != 2 || st[0].id != 7 || st[1].id != 8 {
		t.Fatalf("%+v", st)
	}
	if f := st[0].groupFunction("github.com/cascadelab/cascadelab/victim"); f != "github.com/cascadelab/cascadelab/victim/gateway.f" {
		t.Errorf("group function %q", f)
	}
	if f := st[1].groupFunction("nomatch"); f != "main.x" {
		t.Errorf("fallback %q", f)
	}
}
