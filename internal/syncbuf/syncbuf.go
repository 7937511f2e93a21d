// Package syncbuf is an output buffer that a subprocess (its Stdout or
// Stderr) writes while a test reads it: a bytes.Buffer behind a mutex.
package syncbuf

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer collects writes from any goroutine; the zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail is the last n bytes written (after "…" when cut), trimmed of
// surrounding space: the end of a log for a test's failure message.
func (s *Buffer) Tail(n int) string {
	b := s.String()
	if len(b) > n {
		b = "…" + b[len(b)-n:]
	}
	return strings.TrimSpace(b)
}
