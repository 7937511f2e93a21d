package kube_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// kubeletHelperEnv turns this test binary, started as a child, into one of
// the stand-in's helper processes instead of running tests:
//
//   - helperPause: the pause stand-in, which is what pod-failure's pause
//     image runs: it serves nothing and exits 0 on SIGTERM or SIGINT, as
//     pause does.
//   - helperVictim: a victim stand-in for tests of the stand-in itself: it
//     serves 200 on every path of --admin-listen and --listen, appends each
//     SIGTERM/SIGINT it gets to the file $KUBELET_STANDIN_SIGNAL_LOG, and
//     exits 0 on it unless $KUBELET_STANDIN_IGNORE_TERM is set; with
//     $KUBELET_STANDIN_CRASH_AFTER (a Go duration) it prints a Go fatal
//     error and exits 2 that long after it started.
const (
	kubeletHelperEnv = "KUBELET_STANDIN_HELPER"
	helperPause      = "pause"
	helperVictim     = "victim"
)

func init() {
	switch os.Getenv(kubeletHelperEnv) {
	case helperPause:
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		os.Exit(0)
	case helperVictim:
		helperVictimMain()
	}
}

func helperVictimMain() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	for _, a := range os.Args[1:] {
		name, addr, _ := strings.Cut(a, "=")
		if name != "--listen" && name != "--admin-listen" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "listen %s: %v\n", addr, err)
			os.Exit(1)
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	}
	if d, err := time.ParseDuration(os.Getenv("KUBELET_STANDIN_CRASH_AFTER")); err == nil {
		go func() {
			time.Sleep(d)
			fmt.Fprint(os.Stderr, "fatal error: concurrent map writes\n\ngoroutine 7 [running]:\nmain.main()\n")
			os.Exit(2)
		}()
	}
	for s := range sig {
		if f, err := os.OpenFile(os.Getenv("KUBELET_STANDIN_SIGNAL_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "%s %d\n", s, time.Now().UnixNano())
			f.Close()
		}
		if os.Getenv("KUBELET_STANDIN_IGNORE_TERM") == "" {
			os.Exit(0)
		}
	}
}

// ContainerEvent is one thing the stand-in did to, or saw of, a pod's
// container process.
type ContainerEvent struct {
	Pod string
	// Pause is true for the pause stand-in (the pod's image was swapped).
	Pause bool
	// What is "started", "SIGTERM", "SIGKILL" or "exited".
	What string
	// ExitCode is the exit code of "exited" (128+signal when killed).
	ExitCode int32
	At       time.Time
}

func (e ContainerEvent) String() string {
	name := "victim"
	if e.Pause {
		name = "pause"
	}
	if e.What == "exited" {
		return fmt.Sprintf("%s exited %d", name, e.ExitCode)
	}
	return name + " " + e.What
}

// Events returns what happened to pod's containers so far, in order.
func (k *KubeletStandIn) Events(pod string) []ContainerEvent {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []ContainerEvent
	for _, e := range k.events {
		if e.Pod == pod {
			out = append(out, e)
		}
	}
	return out
}

func (k *KubeletStandIn) event(pp *podProc, c *container, what string, code int32) {
	k.eventAt(pp, c, what, code, time.Now())
}

func (k *KubeletStandIn) eventAt(pp *podProc, c *container, what string, code int32, at time.Time) {
	k.mu.Lock()
	k.events = append(k.events, ContainerEvent{Pod: pp.pod, Pause: c.pause, What: what, ExitCode: code, At: at})
	k.mu.Unlock()
}

// tailBuffer keeps the last 64 KiB written to it.
type tailBuffer struct {
	mu      sync.Mutex
	b       []byte
	entries []logEntry // where each entry of b starts, when the runtime wrote it
	partial [2][]byte  // per stream: stdout, stderr
}

// logEntry is one entry of a CRI log: its start in tailBuffer.b and its
// timestamp (what pods/log's timestamps=true prints before it).
type logEntry struct {
	off int
	at  time.Time
}

// add appends one log entry, stamped now, as a CRI runtime writes it.
func (t *tailBuffer) add(e []byte) {
	t.entries = append(t.entries, logEntry{off: len(t.b), at: time.Now()})
	t.b = append(t.b, e...)
}

// containerLogMaxSize is the kubelet's default log rotation size: a
// container's log keeps at most this much.
const containerLogMaxSize = 10 << 20

// criMaxLine is the longest line a CRI runtime writes as one log entry;
// a longer one is cut into partial entries.
const criMaxLine = 16 << 10

// Write appends to the stdout stream (tests that use it as one writer).
func (t *tailBuffer) Write(p []byte) (int, error) { return t.stream(0).Write(p) }

// stream is one of the container's output streams (0 stdout, 1 stderr).
// As a CRI runtime logs them, each stream's output enters the log a whole
// line at a time, so lines written at once on stdout and stderr do not mix
// within a line (the Go runtime prints a fatal error in several writes).
func (t *tailBuffer) stream(i int) io.Writer { return streamWriter{t, i} }

type streamWriter struct {
	t *tailBuffer
	i int
}

func (w streamWriter) Write(p []byte) (int, error) {
	t := w.t
	t.mu.Lock()
	defer t.mu.Unlock()
	part := append(t.partial[w.i], p...)
	for {
		j := bytes.IndexByte(part, '\n')
		if j < 0 {
			break
		}
		t.add(part[:j+1])
		part = part[j+1:]
	}
	for len(part) >= criMaxLine {
		t.add(part[:criMaxLine])
		part = part[criMaxLine:]
	}
	t.partial[w.i] = append([]byte(nil), part...)
	if cut := len(t.b) - containerLogMaxSize; cut > 0 {
		t.b = t.b[cut:]
		i := 0
		for i+1 < len(t.entries) && t.entries[i+1].off <= cut {
			i++
		}
		t.entries = t.entries[i:]
		for j := range t.entries {
			t.entries[j].off = max(t.entries[j].off-cut, 0)
		}
	}
	return len(p), nil
}

// flush writes out unterminated lines, as a runtime does when the
// container's streams close.
func (t *tailBuffer) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, part := range t.partial {
		if len(part) > 0 {
			t.add(part)
		}
		t.partial[i] = nil
	}
}

// lines returns the log's entries, each with its timestamp.
func (t *tailBuffer) lines() []timedLine {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]timedLine, len(t.entries))
	for i, e := range t.entries {
		end := len(t.b)
		if i+1 < len(t.entries) {
			end = t.entries[i+1].off
		}
		out[i] = timedLine{at: e.at, text: append([]byte(nil), t.b[e.off:end]...)}
	}
	return out
}

// timedLine is one log entry and when it was written.
type timedLine struct {
	at   time.Time
	text []byte
}

// tail returns the last maxLines lines, at most maxBytes, as the kubelet's
// FallbackToLogsOnError does.
func (t *tailBuffer) tail(maxBytes, maxLines int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := bytes.TrimRight(t.b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	out := bytes.Join(lines, []byte("\n"))
	if len(out) > maxBytes {
		out = out[len(out)-maxBytes:]
	}
	return string(out)
}
