//go:build goexperiment.goroutineleakprofile

package leakreport

import (
	"testing"
	"time"
)

func gcLeakVictim() {
	ch := make(chan int)
	ch <- 1 // nobody else can ever reach ch
}

func TestGCLeaked(t *testing.T) {
	for range 3 {
		go gcLeakVictim()
	}
	time.Sleep(50 * time.Millisecond)
	rep := New(CacheFor(0)).Report()
	if rep.GCLeaked == nil || *rep.GCLeaked < 3 {
		t.Fatalf("gcLeaked = %v, want >= 3", rep.GCLeaked)
	}
	t.Logf("gcLeaked=%d goleak=%d", *rep.GCLeaked, rep.Leaked)
}
