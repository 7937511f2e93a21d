package local

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// blockingWriter blocks every Write until released.
type blockingWriter struct{ release chan struct{} }

func (b blockingWriter) Write(p []byte) (int, error) { <-b.release; return len(p), nil }

// TestStdoutPipeAbsorbsAStalledReader: with the reader stalled, a child can
// still write 512 KiB of events (eight times the kernel's default pipe
// buffer) without blocking.
func TestStdoutPipeAbsorbsAStalledReader(t *testing.T) {
	dst := blockingWriter{release: make(chan struct{})}
	w, wait, err := stdoutPipe(dst)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0); err != nil || n < eventPipeSize {
		t.Fatalf("pipe buffer %d (%v), want %d", n, err, eventPipeSize)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := w.Write(bytes.Repeat([]byte("x"), 512<<10))
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the write blocked behind the stalled reader")
	}
	close(dst.release)
	w.Close()
	wait(10 * time.Second)
}
