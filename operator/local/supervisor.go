package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// errStopped is returned by spawn for a pod that Stop or Close has ended.
var errStopped = errors.New("pod stopped")

// spawn starts the pod's process. It holds p.mu throughout, so Stop either
// sees the new process or prevents it.
func (p *pod) spawn() error {
	argv := p.argv()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errStopped
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), p.b.cfg.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second // do not hang on pipes held by grandchildren
	p.stderr.Reset()
	cmd.Stderr = io.Writer(p.stderr)
	if w := p.b.cfg.logs; w != nil {
		cmd.Stderr = io.MultiWriter(p.stderr, &prefixWriter{prefix: []byte(p.name + " | "), w: w})
		cmd.Stdout = &prefixWriter{prefix: []byte(p.name + " | "), w: w}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (%s): %w", p.name, argv[0], err)
	}
	p.cmd, p.running, p.startedAt, p.exited = cmd, true, time.Now(), make(chan struct{})
	p.supervised = true
	return nil
}

// supervise waits for the running process and restarts it with back-off
// until the pod is stopped. It reports every exit as a crash at once.
func (p *pod) supervise() {
	defer close(p.done)
	cfg := p.b.cfg.backoff
	delay := cfg.Initial
	for {
		p.mu.Lock()
		cmd, exited := p.cmd, p.exited
		p.mu.Unlock()
		err := cmd.Wait()
		now := time.Now()
		code, sig := exitStatus(cmd, err)

		p.mu.Lock()
		injected, stopped := p.injectNxt, p.stopped
		p.injectNxt, p.running = false, false
		p.lastTail = p.stderr.String()
		uptime := now.Sub(p.startedAt)
		close(exited)
		p.mu.Unlock()

		finished := p.role == RoleLoadgen && code == 0 // a Job that completed
		if !stopped && !finished {
			p.b.report(observe.Crash{
				Target: p.name, At: p.b.since(now), ExitCode: code, Signal: sig,
				Headline: crashHeadline(p.lastTail, code, sig), Injected: injected,
			})
		}
		if stopped || finished {
			return
		}

		wait := cfg.Initial
		if !injected {
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
			if !p.sleep(cfg.Max) {
				return
			}
			continue
		}
		p.mu.Lock()
		if injected {
			p.injected++
		} else {
			p.restarts++
		}
		p.mu.Unlock()
	}
}

// next returns how long to wait before a restart and the delay after that,
// given the current delay and how long the process was up: the delay is
// back to Initial after Reset of uptime and doubles up to Max otherwise.
func (bo Backoff) next(delay, uptime time.Duration) (wait, after time.Duration) {
	if uptime >= bo.Reset || delay <= 0 {
		delay = bo.Initial
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

// signal sends sig to the pod's process group if it is running. injected
// marks the resulting exit as caused by a fault.
func (p *pod) signal(sig syscall.Signal, injected bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return false
	}
	if injected {
		p.injectNxt = true
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, sig)
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
	if p.signal(syscall.SIGTERM, false) {
		select {
		case <-exited:
		case <-time.After(grace):
			p.signal(syscall.SIGKILL, false)
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
