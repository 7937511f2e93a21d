package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// RoleTarget is the role of the processes of spec.target.process: a
// service of the user's, not one of the victim's roles.
const RoleTarget = "target"

// NewForSpec prepares the processes of spec: the kit's victim (New) or,
// with spec.target.process, the user's own service (Replicas processes of
// its command, each a pod named target-<i> labelled with the target
// selector's matchLabels). Unset fields take the API's defaults.
func NewForSpec(name string, spec v1alpha1.ExperimentSpec, opts ...Option) (*Backend, error) {
	if spec.Victim != nil {
		return New(name, *spec.Victim, opts...)
	}
	if spec.Target == nil || spec.Target.Process == nil {
		return nil, fmt.Errorf("spec.target.process: required by the local backend to start the target")
	}
	t := spec.Target.DeepCopy()
	v1alpha1.SetDefaults(&v1alpha1.ExperimentSpec{Target: t})
	return newBackend(name, func(b *Backend) error { return b.buildTarget(t) }, opts...)
}

// buildTarget creates one pod per replica of the target's command, each
// behind its own proxy (the inbound edge the load and network faults use).
func (b *Backend) buildTarget(t *v1alpha1.TargetSpec) error {
	b.target = t
	for i := range int(t.Process.Replicas) {
		p, err := newPod(b, RoleTarget, i, nil)
		if err != nil {
			return err
		}
		p.labels = map[string]string{}
		for k, v := range t.Selector.MatchLabels {
			p.labels[k] = v
		}
		p.command = func(app, admin string) (argv, env []string) {
			return targetCommand(t.Process, port(app), port(admin))
		}
		b.pods = append(b.pods, p)
	}
	return nil
}

// targetCommand is a target process's argv and added environment: $(PORT)
// and $(ADMIN_PORT) replaced in the command and the env values, and set as
// PORT and ADMIN_PORT.
func targetCommand(p *v1alpha1.ProcessSpec, appPort, adminPort string) (argv, env []string) {
	r := strings.NewReplacer("$(PORT)", appPort, "$(ADMIN_PORT)", adminPort)
	for _, a := range p.Command {
		argv = append(argv, r.Replace(a))
	}
	env = []string{"PORT=" + appPort, "ADMIN_PORT=" + adminPort}
	for _, e := range p.Env {
		env = append(env, e.Name+"="+r.Replace(e.Value))
	}
	return argv, env
}

// signalAddr is where a pod's signals are read: its admin address, or for
// a target that did not answer its metrics path on $(ADMIN_PORT) when it
// became ready, its app address.
func (b *Backend) signalAddr(p *pod) string {
	app, admin := p.addrs()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role == RoleTarget && !p.signalsOnAdmin {
		return app
	}
	return admin
}

// probeSignals decides, once a target pod answers, whether its signals are
// on its admin port: its metrics path answers 200 there.
func (b *Backend) probeSignals(ctx context.Context, client *http.Client, p *pod) {
	_, admin := p.addrs()
	ok := false
	if req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+b.target.MetricsPath, nil); err == nil {
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			ok = resp.StatusCode == http.StatusOK
		}
	}
	p.mu.Lock()
	p.signalsOnAdmin = ok
	p.mu.Unlock()
}

func port(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return p
}
