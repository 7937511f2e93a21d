package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// errStopped is returned by spawn for a pod that Stop or Close has ended.
var errStopped = errors.New("pod stopped")

// spawn starts the pod's process. It holds p.mu throughout, so Stop either
// sees the new process or prevents it.
func (p *pod) spawn() error {
	argv, env := p.argv()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errStopped
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), p.b.cfg.env...), env...)
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = time.Second // do not hang on pipes held by grandchildren
	p.stderr.Reset()
	cmd.Stderr = io.Writer(p.stderr)
	p.stdout = p.b.events.Writer(p.name)
	var out io.Writer = p.stdout
	if w := p.b.cfg.logs; w != nil {
		cmd.Stderr = io.MultiWriter(p.stderr, &prefixWriter{prefix: []byte(p.name + " | "), w: w})
		out = io.MultiWriter(p.stdout, &prefixWriter{prefix: []byte(p.name + " | "), w: w})
	}
	pw, wait, err := stdoutPipe(out)
	if err != nil {
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	cmd.Stdout = pw
	err = cmd.Start()
	pw.Close() // the child holds its own copy
	p.stdoutDone = wait
	if err != nil {
		return fmt.Errorf("starting %s (%s): %w", p.name, argv[0], err)
	}
	p.cmd, p.running, p.startedAt, p.exited = cmd, true, time.Now(), make(chan struct{})
	p.supervised = true
	return nil
}

// supervise waits for the running process and restarts it until the pod is
// stopped. It reports every exit as a crash at once: injected when a pod
// fault caused it, unless it is a Go runtime crash (exit 2 with a
// "fatal error:" or "panic:" headline), which is the process's own even
// during a fault. A crash, and a container-kill, restart after the
// crash-loop back-off (Backoff); a pod-kill replaces the process at once with
// a fresh back-off, as a new pod; a pod-failure restarts it at once when
// recovered.
func (p *pod) supervise() {
	defer close(p.done)
	cfg := p.b.cfg.backoff
	var delay time.Duration // the back-off in force: 0 until the first crash
	for {
		p.mu.Lock()
		cmd, exited, stdout, stdoutDone := p.cmd, p.exited, p.stdout, p.stdoutDone
		p.mu.Unlock()
		err := cmd.Wait()
		now := time.Now()
		code, sig := exitStatus(cmd, err)
		stdoutDone(cmd.WaitDelay) // the output read to its end (unless a grandchild holds it)
		stdout.Close()

		p.mu.Lock()
		cause, stopped := p.cause, p.stopped
		p.cause, p.running = exitCrash, false
		p.lastTail = p.stderr.String()
		uptime := now.Sub(p.startedAt)
		close(exited)
		p.mu.Unlock()

		headline := crashHeadline(p.lastTail, code, sig)
		injected := cause != exitCrash && !goRuntimeCrash(code, headline)
		if goRuntimeCrash(code, headline) && !stopped {
			p.b.events.Crash(p.name, now, headline)
		}
		finished := p.role == RoleLoadgen && code == 0 // a Job that completed
		if !stopped && !finished {
			p.b.report(observe.Crash{
				Target: p.name, At: p.b.since(now), ExitCode: code, Signal: sig,
				Headline: headline, Injected: injected,
			})
		}
		if stopped || finished {
			return
		}

		var wait time.Duration
		switch cause {
		case exitPodKill:
			delay = 0 // a new pod
		case exitPodFailure:
			// held down by p.held until recovered, then at once
		default:
			wait, delay = cfg.next(delay, uptime)
		}
		if !p.sleep(wait) {
			return
		}
		if err := p.spawn(); errors.Is(err, errStopped) {
			return
		} else if err != nil {
			// Not startable (binary gone?): report it and keep backing off.
			p.b.report(observe.Crash{Target: p.name, At: p.b.since(time.Now()), ExitCode: -1, Headline: err.Error()})
			wait, delay = cfg.next(max(delay, cfg.Initial), 0)
			if !p.sleep(wait) {
				return
			}
			continue
		}
		p.mu.Lock()
		switch {
		case cause == exitPodKill:
			p.replaced++
		case injected:
			p.injected++
		default:
			p.restarts++
		}
		p.mu.Unlock()
	}
}

// goRuntimeCrash reports whether an exit is a Go runtime crash: exit status 2
// with a "fatal error:" or "panic:" headline.
func goRuntimeCrash(code int, headline string) bool {
	return code == 2 && (strings.HasPrefix(headline, "fatal error:") || strings.HasPrefix(headline, "panic:"))
}

// next returns how long to wait before restarting a process that crashed
// after uptime, given the back-off in force (0 before any crash), and the
// back-off after that restart. As the kubelet does: the first crash, and the
// first after a process stayed up for Reset, restarts at once and sets the
// back-off to Initial; each later crash waits the back-off, which then
// doubles up to Max.
func (bo Backoff) next(delay, uptime time.Duration) (wait, after time.Duration) {
	if delay <= 0 || uptime >= bo.Reset {
		return 0, bo.Initial
	}
	return delay, min(2*delay, bo.Max)
}

// sleep waits d and then for as long as the pod is held down by
// pod-failure. It returns false when the pod was stopped meanwhile.
func (p *pod) sleep(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		p.mu.Lock()
		stopped, held := p.stopped, p.held
		p.mu.Unlock()
		left := time.Until(deadline)
		switch {
		case stopped:
			return false
		case !held && left <= 0:
			return true
		case held:
			<-p.wake
		default:
			t := time.NewTimer(left)
			select {
			case <-t.C:
			case <-p.wake:
			}
			t.Stop()
		}
	}
}

// signal sends sig to the pod's process group if it is running. cause says
// what the resulting exit is (exitCrash: none of a fault's doing).
func (p *pod) signal(sig syscall.Signal, cause exitCause) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signalLocked(sig, cause)
}

func (p *pod) signalLocked(sig syscall.Signal, cause exitCause) bool {
	if !p.running {
		return false
	}
	if cause != exitCrash {
		p.cause = cause
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	return true
}

// terminate stops the running process as a kubelet stops a container:
// SIGTERM now and, if that same process is still running after grace,
// SIGKILL. It does not wait. It reports whether a process was running.
func (p *pod) terminate(grace time.Duration, cause exitCause) bool {
	p.mu.Lock()
	exited := p.exited
	ok := p.signalLocked(syscall.SIGTERM, cause)
	p.mu.Unlock()
	if !ok {
		return false
	}
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			p.mu.Lock()
			if p.exited == exited {
				p.signalLocked(syscall.SIGKILL, cause)
			}
			p.mu.Unlock()
		}
	}()
	return true
}

// stop ends the pod for good: SIGTERM, SIGKILL after grace, and waits for
// the supervisor to return.
func (p *pod) stop(grace time.Duration) {
	p.mu.Lock()
	p.stopped = true
	exited, supervised := p.exited, p.supervised
	p.mu.Unlock()
	if !supervised {
		return
	}
	p.poke()
	if p.signal(syscall.SIGTERM, exitCrash) {
		select {
		case <-exited:
		case <-time.After(grace):
			p.signal(syscall.SIGKILL, exitCrash)
		}
	}
	<-p.done
}

// exitStatus returns the exit code (-1 when signalled) and signal name.
func exitStatus(cmd *exec.Cmd, err error) (int, string) {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && cmd.ProcessState == nil {
		return -1, ""
	}
	st := cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, signalName(ws.Signal())
	}
	return st.ExitCode(), ""
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGBUS:
		return "SIGBUS"
	}
	return s.String()
}
