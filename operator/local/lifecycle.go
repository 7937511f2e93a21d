package local

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// maxRebinds is how often a pod gets new ports when its ports were taken
// between choosing them and the child binding them.
const maxRebinds = 3

// readyPoll is how often waitReady asks: a loopback request costs well
// under a millisecond, and every poll saved is start-up time.
const readyPoll = 10 * time.Millisecond

// waitReady polls p's /readyz until it answers 200 (a target's app port
// until it answers at all). When the child failed
// to bind its ports it gets new ones (the proxies follow) and the
// supervisor's restart tries again.
func (b *Backend) waitReady(ctx context.Context, p *pod) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	// A redirect is not ready: /readyz answers 200 itself.
	client := &http.Client{Transport: tr, Timeout: time.Second, CheckRedirect: observe.NoRedirect}
	rebinds := 0
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		app, admin := p.addrs()
		url := "http://" + admin + "/readyz"
		if p.role == RoleTarget {
			url = "http://" + app + "/" // any answer: a target need not serve /readyz
		}
		if req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil); err == nil {
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				if p.role == RoleTarget {
					b.probeSignals(ctx, client, p)
					return nil
				}
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if !p.isRunning() && strings.Contains(p.tail(), "address already in use") && rebinds < maxRebinds {
			rebinds++
			if err := b.rebind(p); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not become ready (%v); stderr tail:\n%s", p.name, context.Cause(ctx), lastLines(p.tail(), 20))
		case <-p.done:
			return fmt.Errorf("%s stopped before it became ready; stderr tail:\n%s", p.name, lastLines(p.tail(), 20))
		case <-tick.C:
		}
	}
}

// rebind gives p new ports and points the proxies in front of it there.
func (b *Backend) rebind(p *pod) error {
	if err := p.allocPorts(); err != nil {
		return err
	}
	app, _ := p.addrs()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.edges {
		if e.server == p {
			in := &toxiproxy.Proxy{Name: e.proxy.Name, Listen: e.proxy.Listen, Upstream: app, Enabled: true}
			if err := e.proxy.Update(in); err != nil {
				return fmt.Errorf("repointing the proxy %s: %w", e.proxy.Name, err)
			}
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Targets returns the admin endpoints of the pods to observe: every pod
// that is still supervised, down or not (a pod in back-off or held by
// pod-failure scrapes as down, as it would in a cluster), loadgen included
// once started and until its run completes. A target's Instance is the
// process ID of its running child (empty while it is down), so a replaced
// or restarted process is told from a surviving one.
func (b *Backend) Targets() []observe.Target {
	b.mu.Lock()
	pods := append([]*pod{}, b.pods...)
	b.mu.Unlock()
	var out []observe.Target
	for _, p := range pods {
		select {
		case <-p.done:
			continue
		default:
		}
		admin := b.signalAddr(p)
		labels := make(map[string]string, len(p.labels))
		for k, v := range p.labels {
			labels[k] = v
		}
		instance := ""
		p.mu.Lock()
		if p.running {
			instance = strconv.Itoa(p.cmd.Process.Pid)
		}
		p.mu.Unlock()
		out = append(out, observe.Target{Name: p.name, Role: p.role, AdminURL: "http://" + admin, Labels: labels, Instance: instance})
	}
	return out
}

// Restarts returns each pod's organic restarts: restarts after exits that
// no injected pod fault caused (what hypothesis.maxRestarts judges).
// Restarts after pod-kill, container-kill and pod-failure are in Pods.
func (b *Backend) Restarts() map[string]int32 {
	out := map[string]int32{}
	for _, s := range b.Pods() {
		out[s.Name] = s.Restarts
	}
	return out
}

// PodStatus is the state of one local pod.
type PodStatus struct {
	Name, Role string
	Labels     map[string]string
	// AppURL is the pod's own app address (empty for loadgen); peers reach
	// it through proxies.
	AppURL, AdminURL string
	Running          bool
	PID              int
	// Restarts counts organic restarts; InjectedRestarts those after
	// injected container-kill and pod-failure faults.
	Restarts, InjectedRestarts int32
	// Replaced counts pod-kills: the process was replaced at once, as a
	// Deployment replaces a deleted pod (whose new pod starts with restart
	// count 0); a replacement is not a restart.
	Replaced int32
}

// Pods returns the status of every pod, in topology order.
func (b *Backend) Pods() []PodStatus {
	b.mu.Lock()
	pods := append([]*pod{}, b.pods...)
	b.mu.Unlock()
	out := make([]PodStatus, 0, len(pods))
	for _, p := range pods {
		p.mu.Lock()
		s := PodStatus{Name: p.name, Role: p.role, Labels: p.labels, AdminURL: "http://" + p.adminAddr,
			Running: p.running, Restarts: p.restarts, InjectedRestarts: p.injected, Replaced: p.replaced}
		if p.appAddr != "" {
			s.AppURL = "http://" + p.appAddr
		}
		if p.running {
			s.PID = p.cmd.Process.Pid
		}
		p.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// Crashes delivers every process exit (except those asked for by Stop or
// Close, and a loadgen completing) as soon as it happens. It is closed by
// Close. If the reader falls more than 1024 behind, crashes are dropped.
func (b *Backend) Crashes() <-chan observe.Crash { return b.crashes }

// GatewayURL is gateway-0's own app base URL (not through a proxy).
func (b *Backend) GatewayURL() string {
	for _, s := range b.Pods() {
		if s.Role == RoleGateway {
			return s.AppURL
		}
	}
	return ""
}

// DataDir is the run's data directory (the ledger's store is in ledger/).
func (b *Backend) DataDir() string { return b.dataDir }

// Stop stops the load generator first, then every other pod: SIGTERM, and
// SIGKILL for those still running after the grace period (WithStopGrace,
// shortened by ctx's deadline). Pods are not restarted afterwards.
func (b *Backend) Stop(ctx context.Context) error {
	grace := b.cfg.stopGrace
	if d, ok := ctx.Deadline(); ok {
		grace = min(grace, time.Until(d))
	}
	b.stopPods(grace)
	return ctx.Err()
}

func (b *Backend) stopPods(grace time.Duration) {
	b.mu.Lock()
	pods := append([]*pod{}, b.pods...)
	b.mu.Unlock()
	var first, rest []*pod
	for _, p := range pods {
		if p.role == RoleLoadgen {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	for _, group := range [][]*pod{first, rest} {
		var wg sync.WaitGroup
		for _, p := range group {
			wg.Go(func() { p.stop(grace) })
		}
		wg.Wait()
	}
}

// Close recovers every fault, kills every child (SIGKILL at once: Stop is
// the graceful path), closes the proxies, closes Crashes and removes the
// data directory unless WithKeepData was given. It is idempotent and safe
// to call in a deferred function after a panic or a failed Start.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		lb := b.lb
		b.mu.Unlock()
		err := b.RecoverAll(context.Background())
		b.stopPods(0)
		if lb != nil {
			lb.close()
		}
		err = errors.Join(err, b.srv.Collection.Clear())
		close(b.crashes)
		if !b.cfg.keepData && b.dataDir != "" {
			err = errors.Join(err, os.RemoveAll(b.dataDir))
		}
		b.closeErr = err
	})
	return b.closeErr
}
