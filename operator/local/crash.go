package local

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// tailSize is how much of a child's stderr is kept per exit.
const tailSize = 8 << 10

// ring keeps the last tailSize bytes written to it.
type ring struct {
	mu   sync.Mutex
	buf  []byte
	full bool
	pos  int
}

func newRing() *ring { return &ring{buf: make([]byte, tailSize)} }

// Write implements io.Writer; it never fails.
func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	if len(p) > len(r.buf) {
		p = p[len(p)-len(r.buf):]
	}
	for len(p) > 0 {
		c := copy(r.buf[r.pos:], p)
		p = p[c:]
		r.pos += c
		if r.pos == len(r.buf) {
			r.pos, r.full = 0, true
		}
	}
	return n, nil
}

// String returns the kept tail.
func (r *ring) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return string(r.buf[:r.pos])
	}
	return string(r.buf[r.pos:]) + string(r.buf[:r.pos])
}

// Reset empties the buffer (a new process starts a new tail).
func (r *ring) Reset() {
	r.mu.Lock()
	r.pos, r.full = 0, false
	r.mu.Unlock()
}

// crashHeadline picks the line of a stderr tail that explains an exit:
// observe.CrashHeadline's "fatal error:" or "panic:" line when there is one,
// else the signal that killed the process, else the last line of output.
func crashHeadline(tail string, exitCode int, signal string) string {
	h := observe.CrashHeadline([]byte(tail))
	if strings.HasPrefix(h, "fatal error:") || strings.HasPrefix(h, "panic:") {
		return h
	}
	if signal != "" {
		return "killed by " + signal
	}
	if h != "" {
		return h
	}
	return fmt.Sprintf("exited with code %d", exitCode)
}

// prefixWriter writes each line to w prefixed with a pod name.
type prefixWriter struct {
	mu     sync.Mutex
	prefix []byte
	w      interface{ Write([]byte) (int, error) }
	part   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			break
		}
		line := append(append([]byte{}, p.prefix...), p.part[:i+1]...)
		p.part = p.part[i+1:]
		_, _ = p.w.Write(line)
	}
	return len(b), nil
}
