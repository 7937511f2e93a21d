package victim

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cascadelab/cascadelab/victim/admin"
	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/events"
	"github.com/cascadelab/cascadelab/victim/gateway"
	"github.com/cascadelab/cascadelab/victim/leakreport"
	"github.com/cascadelab/cascadelab/victim/ledger"
	"github.com/cascadelab/cascadelab/victim/loadgen"
	"github.com/cascadelab/cascadelab/victim/orders"
)

// Main runs the victim with the given arguments (without the program name)
// until SIGTERM or SIGINT, and returns the exit status: 0 on a clean stop,
// 2 for bad flags, 1 for any other failure.
//
// The victim runs with at least two Ps (GOMAXPROCS 2) unless GOMAXPROCS is
// set: a process confined to one CPU (taskset, a one-CPU VM) would otherwise
// get one P, and with one P the runtime does not preempt map code
// mid-operation, so two map operations never overlap and the racy cache
// cannot crash (TestOnePHidesTheRace). Two Ps is what Go (1.25 and later)
// gives a pod whose CPU limit is below 2 on a node of two or more CPUs: the
// victim behaves on one CPU as it would there, its threads interleaved by the
// kernel instead of running side by side.
func Main(args []string, stdout, stderr io.Writer) int {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < MinProcs {
		runtime.GOMAXPROCS(MinProcs)
	}
	cfg, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Run(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "victim %s: %v\n", cfg.Role, err)
		return 1
	}
	return 0
}

// MinProcs is the fewest Ps the victim runs with when GOMAXPROCS is unset.
const MinProcs = 2

// ShutdownTimeout bounds graceful shutdown of the HTTP servers.
const ShutdownTimeout = 10 * time.Second

// process is one running role.
type process struct {
	cfg     Config
	metrics *admin.Metrics
	ready   admin.Ready
	logger  *log.Logger
	events  *events.Log // nil when --events=false
	app     http.Handler
	closers []func()
}

// Run runs cfg's role until ctx is done (or, for loadgen, the run ends).
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	p := &process{cfg: cfg, metrics: admin.NewMetrics(), logger: log.New(stderr, cfg.Role+": ", log.LstdFlags|log.Lmicroseconds)}
	if cfg.Events && cfg.Role != RoleLoadgen { // loadgen's stdout is its summary
		p.events = events.New(stdout, cfg.Role, cfg.Replica)
	}
	defer func() {
		for i := len(p.closers) - 1; i >= 0; i-- {
			p.closers[i]()
		}
	}()
	info := prometheus.Labels{"role": cfg.Role, "cache": "", "idempotency": "", "mode": ""}
	var ignores []string
	switch cfg.Role {
	case RoleLedger:
		info["idempotency"] = cfg.Idempotency
		if err := p.setupLedger(ctx); err != nil {
			return err
		}
	case RoleOrders:
		info["cache"] = cfg.Cache
		ignores = append(ignores, "github.com/cascadelab/cascadelab/victim/cache.(*racy).janitor",
			"github.com/cascadelab/cascadelab/victim/cache.(*worker).run")
		if err := p.setupOrders(); err != nil {
			return err
		}
	case RoleGateway:
		info["mode"] = cfg.Mode
		if err := p.setupGateway(); err != nil {
			return err
		}
	case RoleLoadgen:
		ignores = append(ignores, "github.com/tsenart/vegeta/v12/lib.(*Attacker).Attack.func1",
			"github.com/tsenart/vegeta/v12/lib.(*Attacker).attack",
			"github.com/cascadelab/cascadelab/victim/loadgen.Run")
	}
	p.metrics.Info(info)
	// The goroutine running Run (main's, in the binary) waits for ctx.
	ignores = append(ignores, "github.com/cascadelab/cascadelab/victim.Run", "github.com/cascadelab/cascadelab/victim.serve")
	leaks := leakreport.New(leakreport.IgnoreFunctions(ignores...))

	adminSrv, adminErr, err := serve(cfg.AdminListen, admin.Handler(p.metrics, &p.ready, leaks))
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	servers := []*http.Server{adminSrv}
	errc := adminErr
	if cfg.Role == RoleLoadgen {
		// Ready (/readyz) once the target answers and the load starts: a
		// drill's clock starts then, not while the Service is unreachable.
		p.logger.Printf("admin on %s; waiting for %s to answer", cfg.AdminListen, cfg.Loadgen.Target)
		lg, answered := cfg.Loadgen, false
		lg.Ready = func() {
			answered = true
			p.ready.Set(true)
			p.logger.Printf("ready: load on %s at %v req/s", lg.Target, lg.Rate)
		}
		sum, err := loadgen.Run(ctx, lg, loadgen.NewMetrics(p.metrics.Registry))
		if err == nil && !answered {
			p.logger.Printf("%s never answered: no load sent", lg.Target)
		}
		if err == nil {
			json.NewEncoder(stdout).Encode(sum)
		}
		shutdown(servers)
		return err
	}
	appSrv, appErr, err := serve(cfg.Listen, p.app)
	if err != nil {
		shutdown(servers)
		return fmt.Errorf("app listener: %w", err)
	}
	servers = append(servers, appSrv)
	p.ready.Set(true)
	p.logger.Printf("ready: app on %s, admin on %s", cfg.Listen, cfg.AdminListen)
	select {
	case <-ctx.Done():
		p.logger.Printf("shutting down")
	case err = <-errc:
	case err = <-appErr:
	}
	p.ready.Set(false)
	shutdown(servers)
	return err
}

func (p *process) setupLedger(ctx context.Context) error {
	store, err := ledger.Open(p.cfg.DataDir, p.cfg.Idempotency, ledger.DefaultWindow)
	if err != nil {
		return err
	}
	p.closers = append(p.closers, func() { store.Close() })
	srv, err := ledger.NewServer(ctx, store, p.metrics.Registry, p.metrics.Instrument, ledger.WithEvents(p.events))
	if err != nil {
		return err
	}
	p.app = srv
	p.ready.Check = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return store.Ping(ctx)
	}
	return nil
}

func (p *process) setupOrders() error {
	c, err := cache.New(p.cfg.Cache, cache.WithJanitor(p.cfg.JanitorInterval, p.cfg.CacheTTL))
	if err != nil {
		return err
	}
	p.closers = append(p.closers, c.Close)
	client := orders.NewClient(10 * time.Second)
	p.closers = append(p.closers, client.CloseIdleConnections)
	p.app = orders.NewServer(c, p.cfg.LedgerURL, orders.WithClient(client),
		orders.WithLogger(p.logger), orders.WithInstrument(p.metrics.Instrument),
		orders.WithClientInstrument(p.metrics.InstrumentClient), orders.WithEvents(p.events),
		orders.WithTouchInterval(p.cfg.TouchInterval))
	return nil
}

func (p *process) setupGateway() error {
	g, err := gateway.New(p.cfg.Mode, p.cfg.OrdersURL, p.cfg.Timeout, p.cfg.Retries,
		gateway.WithRegisterer(p.metrics.Registry), gateway.WithInstrument(p.metrics.Instrument),
		gateway.WithClientInstrument(p.metrics.InstrumentClient), gateway.WithEvents(p.events))
	if err != nil {
		return err
	}
	p.app = g
	return nil
}

// serve listens on addr and serves h in a goroutine; the channel gets the
// server's error if it stops other than by Shutdown.
func serve(addr string, h http.Handler) (*http.Server, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second} // idle keep-alive connections hold a goroutine each
	errc := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	return srv, errc, nil
}

func shutdown(servers []*http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	for i := len(servers) - 1; i >= 0; i-- {
		if err := servers[i].Shutdown(ctx); err != nil {
			servers[i].Close()
		}
	}
}
