package victim

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/gateway"
	"github.com/cascadelab/cascadelab/victim/ledger"
	"github.com/cascadelab/cascadelab/victim/loadgen"
	ordersvc "github.com/cascadelab/cascadelab/victim/orders"
)

// Roles, as accepted by --role.
const (
	RoleGateway = "gateway"
	RoleOrders  = "orders"
	RoleLedger  = "ledger"
	RoleLoadgen = "loadgen"
)

// Config is one process's configuration, from its flags.
type Config struct {
	Role        string
	Listen      string
	AdminListen string
	// Replica names this process in its log events; Events turns them on
	// (gateway, orders, ledger; written to stdout).
	Replica string
	Events  bool

	Cache string // orders
	// JanitorInterval and CacheTTL tune the racy cache's janitor (orders).
	JanitorInterval, CacheTTL time.Duration
	// TouchInterval is how often a payment waiting on the ledger rewrites
	// its cache entry (orders).
	TouchInterval time.Duration
	LedgerURL     string // orders

	Idempotency string // ledger
	DataDir     string // ledger

	Mode      string        // gateway
	OrdersURL []string      // gateway
	Timeout   time.Duration // gateway
	Retries   int           // gateway

	Loadgen loadgen.Config // loadgen
}

const usageHead = `Usage: victim --role=ROLE [flags]

cascadelab's deliberately racy payment service. One binary, four roles:

  ledger   charges orders and keeps the books in SQLite (WAL, synchronous=NORMAL:
           survives a process kill; the last commits may be lost on power loss)
  orders   POST /orders/{id}/pay: cache the order, ask the ledger to charge it
  gateway  forwards POST /orders/{id}/pay to orders replicas with timeout and retries
  loadgen  constant-rate load with a share of order IDs paid twice at once

Every role serves /metrics, /healthz, /readyz, /debug/pprof/ and /debug/goleak on
--admin-listen; gateway, orders and ledger serve their API on --listen.

Example (one machine):
  victim --role=ledger  --listen=127.0.0.1:8003 --admin-listen=127.0.0.1:9003 --idempotency=none --data-dir=/tmp/ledger
  victim --role=orders  --listen=127.0.0.1:8002 --admin-listen=127.0.0.1:9002 --cache=racy --ledger-url=http://127.0.0.1:8003
  victim --role=gateway --listen=127.0.0.1:8001 --admin-listen=127.0.0.1:9001 --mode=leaky --orders-url=http://127.0.0.1:8002
  victim --role=loadgen --admin-listen=127.0.0.1:9004 --target=http://127.0.0.1:8001 --rate=300 --duplicate-ratio=0.1 --duration=60s

Flags (the roles each applies to in brackets):
`

// ParseFlags parses args (without the program name). Usage and errors go to
// out. It returns flag.ErrHelp for -h/--help.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	var c Config
	var orders string
	fs := flag.NewFlagSet("victim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Role, "role", "", "[all] role to run: gateway, orders, ledger or loadgen (required)")
	fs.StringVar(&c.Replica, "replica", defaultReplica(), "[all] this process's name in its log events (default $POD_NAME, else the host name)")
	fs.BoolVar(&c.Events, "events", true, "[gateway, orders, ledger] write structured log events, one JSON object per line, to stdout")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "[gateway, orders, ledger] host:port of the app API")
	fs.StringVar(&c.AdminListen, "admin-listen", "127.0.0.1:9090", "[all] host:port of the admin server (/metrics, /healthz, /readyz, /debug/pprof/, /debug/goleak)")
	fs.DurationVar(&c.JanitorInterval, "janitor-interval", cache.DefaultJanitorInterval, "[orders] how often the racy cache's janitor ranges over the map (Go duration)")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", cache.DefaultTTL, "[orders] age at which the racy cache's janitor evicts an entry (Go duration)")
	fs.DurationVar(&c.TouchInterval, "cache-touch-interval", ordersvc.TouchInterval, "[orders] how often a payment waiting on the ledger touches its cache entry, so the janitor keeps it (Go duration; 0: never)")
	fs.StringVar(&c.Cache, "cache", cache.Mutex, "[orders] order cache strategy: racy (plain map, crashes), mutex, sharded, syncmap or serialized")
	fs.StringVar(&c.LedgerURL, "ledger-url", "http://127.0.0.1:8003", "[orders] base URL of the ledger")
	fs.StringVar(&c.Idempotency, "idempotency", ledger.ModeCAS, "[ledger] none (check-then-act: duplicates possible) or cas (PREPARE→PAID compare-and-set in one transaction)")
	fs.StringVar(&c.DataDir, "data-dir", "./ledger-data", "[ledger] directory of the ledger's SQLite database (created if missing)")
	fs.StringVar(&c.Mode, "mode", gateway.ModeBounded, "[gateway] leaky (a goroutine per try that blocks forever after a timeout) or bounded")
	fs.StringVar(&orders, "orders-url", "http://127.0.0.1:8002", "[gateway] orders base URLs, comma-separated, used round-robin")
	fs.DurationVar(&c.Timeout, "timeout", 500*time.Millisecond, "[gateway] per-try timeout (Go duration)")
	fs.IntVar(&c.Retries, "retries", 2, "[gateway] retries after the first try, re-sending the same order ID on 5xx, transport error or timeout")
	fs.StringVar(&c.Loadgen.Target, "target", "http://127.0.0.1:8001", "[loadgen] base URL of a gateway or orders replica")
	fs.Float64Var(&c.Loadgen.Rate, "rate", 100, "[loadgen] requests per second (open loop, duplicates included)")
	fs.Float64Var(&c.Loadgen.DuplicateRatio, "duplicate-ratio", 0, "[loadgen] share of order IDs, 0–1, paid twice")
	fs.DurationVar(&c.Loadgen.DuplicateAfter, "duplicate-after", 0, "[loadgen] how long after an order's first payment its duplicate is sent (Go duration); 0 sends both at the same moment")
	fs.DurationVar(&c.Loadgen.Duration, "duration", 0, "[loadgen] how long to run (Go duration); 0 runs until SIGTERM/SIGINT")
	fs.Uint64Var(&c.Loadgen.Seed, "seed", 0, "[loadgen] seed for amounts and duplicated IDs; 0 picks one from the clock")
	fs.StringVar(&c.Loadgen.OrderPrefix, "order-prefix", "", `[loadgen] order ID prefix (IDs are PREFIX-N); default "lg-" + a per-run value, so runs do not collide`)
	fs.DurationVar(&c.Loadgen.Timeout, "request-timeout", 30*time.Second, "[loadgen] client timeout per request")
	fs.Func("request", `[loadgen] the request to send instead of the payment, as JSON: {"method", "path", "headers", "body", "successCodes"}; {{.ID}} in path and body is a fresh request id`, func(s string) (err error) {
		c.Loadgen.Request, err = loadgen.ParseRequest(s)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, usageErr(fs, "unexpected arguments: %q", fs.Args())
	}
	for _, u := range strings.Split(orders, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.OrdersURL = append(c.OrdersURL, u)
		}
	}
	if err := c.validate(); err != nil {
		return c, usageErr(fs, "%v", err)
	}
	return c, nil
}

// defaultReplica is $POD_NAME (set from the downward API in a pod), else
// the host name.
func defaultReplica() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}

func usageErr(fs *flag.FlagSet, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	fmt.Fprintf(fs.Output(), "victim: %v\nRun 'victim --help' for usage.\n", err)
	return err
}

func oneOf(name, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("--%s=%q: want one of %s", name, v, strings.Join(allowed, ", "))
}

func (c Config) validate() error {
	var errs []error
	switch c.Role {
	case RoleOrders:
		errs = append(errs, oneOf("cache", c.Cache, cache.Strategies...))
		if c.JanitorInterval <= 0 || c.CacheTTL <= 0 {
			errs = append(errs, errors.New("--janitor-interval and --cache-ttl must be positive"))
		}
	case RoleLedger:
		errs = append(errs, oneOf("idempotency", c.Idempotency, ledger.ModeNone, ledger.ModeCAS))
	case RoleGateway:
		errs = append(errs, oneOf("mode", c.Mode, gateway.ModeLeaky, gateway.ModeBounded))
		if len(c.OrdersURL) == 0 {
			errs = append(errs, errors.New("--orders-url: need at least one URL"))
		}
		if c.Timeout <= 0 {
			errs = append(errs, errors.New("--timeout must be positive"))
		}
		if c.Retries < 0 {
			errs = append(errs, errors.New("--retries must be >= 0"))
		}
	case RoleLoadgen:
		if c.Loadgen.Rate <= 0 {
			errs = append(errs, errors.New("--rate must be positive"))
		}
		if !(c.Loadgen.DuplicateRatio >= 0 && c.Loadgen.DuplicateRatio <= 1) {
			errs = append(errs, errors.New("--duplicate-ratio must be in [0,1]"))
		}
		if c.Loadgen.DuplicateAfter < 0 {
			errs = append(errs, errors.New("--duplicate-after must not be negative"))
		}
		if c.Loadgen.Duration < 0 {
			errs = append(errs, errors.New("--duration must be >= 0"))
		}
	case "":
		errs = append(errs, errors.New("--role is required"))
	default:
		errs = append(errs, oneOf("role", c.Role, RoleGateway, RoleOrders, RoleLedger, RoleLoadgen))
	}
	return errors.Join(errs...)
}
