package local

import (
	"io"
	"os"
	"time"
)

// eventPipeSize is the buffer asked for a child's stdout pipe (the kernel
// default is 64 KiB; /proc/sys/fs/pipe-max-size allows 1 MiB to anyone).
// The victim writes its log events there unbuffered (one write per event,
// or per few events of one moment: events.Log.EmitAll):
// with the default, a reader late for a few hundred lines (this process,
// busy relaying the drill's traffic through its proxies) would block the
// victim's requests in write(2), a cascade of the kit's own making. 1 MiB
// holds seconds of events at a drill's rates.
const eventPipeSize = 1 << 20

// stdoutPipe returns the write end to hand a child as its stdout, its
// buffer raised to eventPipeSize where the kernel allows, and copies the
// read end into dst until every holder of the write end has closed it.
// The caller closes w once the child has started (or failed to); wait
// blocks until the copy has ended or timeout has passed.
func stdoutPipe(dst io.Writer) (w *os.File, wait func(timeout time.Duration), err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	growPipe(w, eventPipeSize)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer r.Close()
		_, _ = io.Copy(dst, r)
	}()
	return w, func(timeout time.Duration) {
		select {
		case <-done:
		case <-time.After(timeout):
		}
	}, nil
}
