package local

import (
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/cascadelab/cascadelab/internal/freeport"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// Label keys and values of the local pods: the ones the kube backend sets
// (defined once, in operator/observe).
const (
	LabelName      = observe.LabelName
	LabelComponent = observe.LabelComponent
	LabelInstance  = observe.LabelInstance
	// AppName is the value of LabelName on every victim pod.
	AppName = observe.AppName
)

// Victim roles (defined once, in operator/observe).
const (
	RoleLedger  = observe.RoleLedger
	RoleOrders  = observe.RoleOrders
	RoleGateway = observe.RoleGateway
	RoleLoadgen = observe.RoleLoadgen
)

// pod is one supervised victim process.
type pod struct {
	b         *Backend
	name      string
	role      string
	namespace string
	labels    map[string]string
	// flags returns the role's flags (beyond --role/--listen/--admin-listen).
	flags func() []string
	// command, when set, is the pod's whole command line and added
	// environment (a target's process) instead of the victim's.
	command func(app, admin string) (argv, env []string)
	// signalsOnAdmin: a target's metrics answered on its admin port.
	signalsOnAdmin bool

	mu         sync.Mutex
	appAddr    string // empty for loadgen
	adminAddr  string
	cmd        *exec.Cmd
	running    bool
	startedAt  time.Time
	exited     chan struct{} // closed when the current process has exited
	restarts   int32         // organic restarts
	injected   int32         // restarts after container-kill and pod-failure
	replaced   int32         // pod-kills: replacements, not restarts
	cause      exitCause     // what the next exit of the process is
	held       bool          // pod-failure in force: do not restart
	stopped    bool          // Stop/Close: do not restart
	supervised bool          // a process was spawned: supervise runs
	lastTail   string        // stderr tail of the last exit
	wake       chan struct{} // interrupts back-off and holds
	done       chan struct{} // closed when the supervisor returns
	stderr     *ring
	stdout     io.WriteCloser      // the running process's events, into b.events
	stdoutDone func(time.Duration) // waits for its stdout to be read to the end
}

// exitCause is what a pod fault makes of the next exit of a pod's process.
type exitCause int

const (
	// exitCrash is an exit no fault asked for: a container restart,
	// counted, after the crash-loop back-off.
	exitCrash exitCause = iota
	// exitPodKill is a pod-kill: in a cluster the pod is deleted and its
	// Deployment creates a new one at once, whose restart count is 0 and
	// which has no back-off yet. The process is replaced at once; it is
	// counted in replaced, not as a restart.
	exitPodKill
	// exitContainerKill is a container-kill: the kubelet restarts the
	// container like any crashed one (counted, back-off applies).
	exitContainerKill
	// exitPodFailure is a pod-failure: the container stays down until the
	// fault is recovered, then starts at once (a changed container spec is a
	// new back-off key for the kubelet); counted as a restart.
	exitPodFailure
)

func newPod(b *Backend, role string, i int, flags func() []string) (*pod, error) {
	p := &pod{
		b: b, role: role, name: fmt.Sprintf("%s-%d", role, i), namespace: b.cfg.namespace,
		labels: map[string]string{LabelName: AppName, LabelComponent: role, LabelInstance: b.name},
		flags:  flags, wake: make(chan struct{}, 1), done: make(chan struct{}), stderr: newRing(),
		exited: make(chan struct{}),
	}
	close(p.exited)
	return p, p.allocPorts()
}

// allocPorts picks free loopback ports for the app (not loadgen) and admin
// servers. Ports stay the same across restarts.
func (p *pod) allocPorts() error {
	admin, err := freeAddr()
	if err != nil {
		return err
	}
	app := ""
	if p.role != RoleLoadgen {
		if app, err = freeAddr(); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.appAddr, p.adminAddr = app, admin
	p.mu.Unlock()
	return nil
}

// freeAddr picks a port outside the ephemeral range, so that no outgoing
// connection takes it before the child binds it.
func freeAddr() (string, error) {
	a, err := freeport.Addr()
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	return a, nil
}

// argv is the pod's command line (the victim's, or a target's command)
// and the environment it adds.
func (p *pod) argv() (argv, env []string) {
	p.mu.Lock()
	app, admin := p.appAddr, p.adminAddr
	p.mu.Unlock()
	if p.command != nil {
		return p.command(app, admin)
	}
	args := append([]string{}, p.b.cfg.command...)
	args = append(args, "--role="+p.role, "--replica="+p.name)
	if app != "" {
		args = append(args, "--listen="+app)
	}
	args = append(args, "--admin-listen="+admin)
	return append(args, p.flags()...), nil
}

func (p *pod) addrs() (app, admin string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.appAddr, p.adminAddr
}

func (p *pod) isRunning() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// tail returns the running process's stderr tail, or the last exit's while
// the process is down or its replacement has written nothing yet (a process
// in a fast crash loop is mostly the latter).
func (p *pod) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stderr.String(); p.running && s != "" {
		return s
	}
	return p.lastTail
}

func (p *pod) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
