package leakscan

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"strings"
	"testing"
	"time"
)

// leaky blocks forever on a channel nobody reads: a leak.
func leaky(ch chan int) { ch <- 1 }

// TestOwnServiceLeakScan drills the scanner against a server with
// net/http/pprof: goroutines leaked after the first scan are reported, the
// first scan's goroutines and one that ends during the pause are not; a
// server without the dump says so; a served leak profile is the evidence.
func TestOwnServiceLeakScan(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/goroutine", pprof.Handler("goroutine"))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := New(WithPause(100 * time.Millisecond))
	defer s.CloseIdleConnections()
	ctx := context.Background()

	early := make(chan int)
	go leaky(early) // there at the first scan: a long-lived worker, not judged
	rep, err := s.Scan(ctx, "p1", srv.URL, "/debug/pprof/goroutine")
	if err != nil || rep.Leaked != 0 {
		t.Fatalf("first scan: %+v, %v (want the baseline, nothing leaked)", rep, err)
	}
	leak := make(chan int)
	for range 3 {
		go leaky(leak)
	}
	brief := make(chan int)
	go leaky(brief)
	go func() { time.Sleep(30 * time.Millisecond); <-brief }()
	time.Sleep(10 * time.Millisecond)
	rep, err = s.Scan(ctx, "p1", srv.URL, "/debug/pprof/goroutine")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Leaked != 3 || len(rep.Groups) != 1 || !strings.Contains(rep.Groups[0].Function, "leakscan.leaky") ||
		!strings.Contains(rep.Groups[0].Function, "chan send") {
		t.Errorf("second scan: %+v, want 3 leaked in leakscan.leaky on chan send", rep)
	}
	for range 3 {
		<-leak
	}
	<-early

	t.Run("no dump", func(t *testing.T) {
		_, err := s.Scan(ctx, "p2", srv.URL, "/debug/pprof/nothing")
		var u *UnavailableError
		if !errors.As(err, &u) || u.Path != "/debug/pprof/nothing" {
			t.Errorf("error %v, want UnavailableError naming the path", err)
		}
	})
	t.Run("leak profile", func(t *testing.T) {
		m := http.NewServeMux()
		// A real answer of a program built with
		// GOEXPERIMENT=goroutineleakprofile that left three goroutines
		// blocked on sends nobody receives.
		dump, err := os.ReadFile("testdata/goroutineleak.txt")
		if err != nil {
			t.Fatal(err)
		}
		m.HandleFunc("/debug/pprof/goroutineleak", func(w http.ResponseWriter, r *http.Request) {
			w.Write(dump)
		})
		ls := httptest.NewServer(m)
		defer ls.Close()
		rep, err := s.Scan(ctx, "p3", ls.URL, "/debug/pprof/goroutine")
		if err != nil || rep.Leaked != 3 || !strings.Contains(rep.Groups[0].Function, "main.main.func1") ||
			!strings.Contains(rep.Groups[0].Function, "proven leaked by the runtime's /debug/pprof/goroutineleak") {
			t.Errorf("leak profile: %+v, %v", rep, err)
		}
	})
}
