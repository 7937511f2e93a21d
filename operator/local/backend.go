package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
	"github.com/cascadelab/cascadelab/operator/victimlog"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/rs/zerolog"
)

// Backend runs one experiment's victim as local processes. Its methods are
// safe for concurrent use. Always Close it.
type Backend struct {
	cfg     config
	name    string
	spec    v1alpha1.VictimSpec
	target  *v1alpha1.TargetSpec // spec.target: its processes instead of the victim
	lb      *balancer            // the load's entry to several target replicas
	srv     *toxiproxy.ApiServer
	dataDir string
	crashes chan observe.Crash
	events  *victimlog.Collector // the victim's log events, every process

	mu      sync.Mutex
	pods    []*pod // ledger, orders…, gateway, then loadgen
	edges   []*edge
	faults  map[int]*activeFault
	epoch   time.Time
	started bool
	closed  bool
	dropped int

	randMu sync.Mutex // guards cfg.rand

	closeOnce sync.Once
	closeErr  error
}

// crashBuffer is how many crashes Crashes holds for a slow reader; more are
// dropped (and counted) rather than stalling a supervisor.
const crashBuffer = 1024

// New prepares the topology of spec for the experiment called name: one
// ledger, spec.orders.replicas orders, one gateway, a toxiproxy proxy on
// every edge, free loopback ports and a data directory. Nothing runs until
// Start. Unset fields take the CRD's defaults (2 replicas, racy cache,
// idempotency none, leaky gateway, 500ms timeout, 2 retries).
func New(name string, spec v1alpha1.VictimSpec, opts ...Option) (*Backend, error) {
	applyDefaults(&spec)
	return newBackend(name, func(b *Backend) error {
		b.spec = spec
		return b.build()
	}, opts...)
}

// newBackend prepares a backend whose pods build creates.
func newBackend(name string, build func(*Backend) error, opts ...Option) (*Backend, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	b := &Backend{
		cfg: cfg, name: name, crashes: make(chan observe.Crash, crashBuffer), events: victimlog.NewCollector(),
		srv:    toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		faults: map[int]*activeFault{}, epoch: time.Now(),
	}
	dir, err := os.MkdirTemp(cfg.dataDir, "cascadelab-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the run's data directory: %w", err)
	}
	b.dataDir = dir
	if err := build(b); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// applyDefaults fills unset victim fields with the API's defaults (the
// same v1alpha1.SetDefaults the CLI and the CRD schema apply).
func applyDefaults(s *v1alpha1.VictimSpec) {
	v1alpha1.SetDefaults(&v1alpha1.ExperimentSpec{Victim: s})
}

// build creates the pods and the proxies between them.
func (b *Backend) build() error {
	ledger, err := newPod(b, RoleLedger, 0, func() []string {
		return []string{"--idempotency=" + string(b.spec.Ledger.Idempotency), "--data-dir=" + b.dataDir + "/ledger"}
	})
	if err != nil {
		return err
	}
	b.pods = append(b.pods, ledger)
	var toOrders []*edge
	for i := range int(b.spec.Orders.Replicas) {
		o, err := newPod(b, RoleOrders, i, nil)
		if err != nil {
			return err
		}
		e, err := b.connect(o, ledger)
		if err != nil {
			return err
		}
		o.flags = func() []string {
			return append([]string{"--cache=" + string(b.spec.Orders.Cache), "--ledger-url=" + e.url()}, b.spec.Orders.JanitorArgs()...)
		}
		b.pods = append(b.pods, o)
		toOrders = append(toOrders, nil)
	}
	gw, err := newPod(b, RoleGateway, 0, nil)
	if err != nil {
		return err
	}
	for i, o := range b.pods[1:] {
		if toOrders[i], err = b.connect(gw, o); err != nil {
			return err
		}
	}
	gw.flags = func() []string {
		urls := make([]string, len(toOrders))
		for i, e := range toOrders {
			urls[i] = e.url()
		}
		g := b.spec.Gateway
		return []string{"--mode=" + string(g.Mode), "--orders-url=" + strings.Join(urls, ","),
			"--timeout=" + g.Timeout.Duration.String(), "--retries=" + strconv.Itoa(int(*g.Retries))}
	}
	b.pods = append(b.pods, gw)
	return nil
}

// connect starts a proxy for client → server.
func (b *Backend) connect(client, server *pod) (*edge, error) {
	app, _ := server.addrs()
	px := toxiproxy.NewProxy(b.srv, client.name+"->"+server.name, "127.0.0.1:0", app)
	if err := b.srv.Collection.Add(px, true); err != nil {
		return nil, fmt.Errorf("starting the proxy %s: %w", px.Name, err)
	}
	e := &edge{client: client, server: server, proxy: px}
	b.mu.Lock()
	b.edges = append(b.edges, e)
	b.mu.Unlock()
	return e, nil
}

// Start starts the ledger, the orders replicas and the gateway, all at
// once, and waits until each serves /readyz. It fails, naming
// the process and quoting its stderr tail, when one is not ready within the
// ready timeout (WithReadyTimeout) or ctx ends.
func (b *Backend) Start(ctx context.Context) error {
	b.mu.Lock()
	if b.closed || b.started {
		b.mu.Unlock()
		return errors.New("local backend: Start called twice or after Close")
	}
	b.started = true
	pods := append([]*pod{}, b.pods...)
	b.mu.Unlock()
	// Every role at once: none needs another to start (orders and the
	// gateway answer their readiness without their upstream), so the
	// victim is up in the time of its slowest process, not their sum.
	var group []*pod
	for _, p := range pods {
		if p.role != RoleLoadgen {
			group = append(group, p)
		}
	}
	if err := b.launch(ctx, group); err != nil {
		return err
	}
	b.mu.Lock()
	b.epoch = time.Now()
	b.mu.Unlock()
	return nil
}

// launch spawns pods, starts their supervisors and waits until all are ready.
func (b *Backend) launch(ctx context.Context, pods []*pod) error {
	for _, p := range pods {
		if err := p.spawn(); err != nil {
			return err
		}
		go p.supervise()
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.readyTimeout)
	defer cancel()
	for _, p := range pods {
		if err := b.waitReady(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// StartLoad starts loadgen-0 against gateway-0 (or the target's replicas,
// each through its own proxy, connections spread round robin), at
// load.Rate requests per second with load.DuplicateRatio ("0"–"1", empty is
// "0") of order IDs sent twice, load.DuplicateAfter apart, for duration (0 =
// until Stop). Crash offsets (observe.Crash.At) count from this moment, the
// drill's clock zero.
func (b *Backend) StartLoad(ctx context.Context, load v1alpha1.LoadSpec, duration time.Duration) error {
	rate, duplicateRatio := load.Rate, load.DuplicateRatio
	if duplicateRatio == "" {
		duplicateRatio = "0"
	}
	b.mu.Lock()
	if b.closed || !b.started {
		b.mu.Unlock()
		return errors.New("local backend: StartLoad before Start or after Close")
	}
	var entry []*pod // the gateway, or the target's replicas
	for _, p := range b.pods {
		if p.role == RoleLoadgen {
			b.mu.Unlock()
			return errors.New("local backend: the load is already running")
		}
		if p.role == RoleGateway || p.role == RoleTarget {
			entry = append(entry, p)
		}
	}
	b.mu.Unlock()
	lg, err := newPod(b, RoleLoadgen, 0, nil)
	if err != nil {
		return err
	}
	url, err := b.entryURL(lg, entry)
	if err != nil {
		return err
	}
	lg.flags = func() []string {
		return append([]string{"--target=" + url, "--rate=" + strconv.Itoa(int(rate)),
			"--duplicate-ratio=" + duplicateRatio, "--duration=" + duration.String()}, append(load.DuplicateAfterArgs(), load.RequestArgs()...)...)
	}
	b.mu.Lock()
	b.pods = append(b.pods, lg)
	b.mu.Unlock()
	if err := b.launch(ctx, []*pod{lg}); err != nil {
		return err
	}
	b.mu.Lock()
	b.epoch = time.Now()
	b.mu.Unlock()
	return nil
}

// selectPods is selectPods with the backend's random source.
func (b *Backend) selectPods(sel chaosv1alpha1.PodSelector, pods []*pod) ([]*pod, error) {
	b.randMu.Lock()
	defer b.randMu.Unlock()
	return selectPods(sel, pods, b.cfg.rand)
}

// report hands a crash to the driver without blocking the supervisor.
// Evidence is what the victim's log events show so far: the first double
// charges reconstructed across processes, and the last events of each
// process before it crashed (see operator/victimlog for the bounds).
func (b *Backend) Evidence() victimlog.Evidence { return b.events.Evidence() }

func (b *Backend) report(c observe.Crash) {
	select {
	case b.crashes <- c:
	default:
		b.mu.Lock()
		b.dropped++
		b.mu.Unlock()
	}
}

// since is t as an offset from the drill's clock zero (StartLoad, or the end
// of Start before the load runs).
func (b *Backend) since(t time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return t.Sub(b.epoch)
}
