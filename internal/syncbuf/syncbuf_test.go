package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// Concurrent writers lose nothing (go test -race checks the locking), and
// Tail cuts from the front.
func TestBufferConcurrentWritesAndTail(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("ab\n"))
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "ab\n"); got != 800 {
		t.Fatalf("%d lines, want 800", got)
	}
	if got := b.Tail(5); got != "…b\nab" {
		t.Errorf("Tail(5) = %q, want %q", got, "…b\nab")
	}
	if got := (&Buffer{}).Tail(5); got != "" {
		t.Errorf("empty Tail = %q", got)
	}
}
