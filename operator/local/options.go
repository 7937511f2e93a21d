package local

import (
	"io"
	"math/rand"
	"time"
)

// Option configures a Backend.
type Option func(*config)

type config struct {
	command      []string
	env          []string
	rand         *rand.Rand
	namespace    string
	dataDir      string
	keepData     bool
	readyTimeout time.Duration
	stopGrace    time.Duration
	termGrace    time.Duration
	backoff      Backoff
	logs         io.Writer
}

// Backoff is the supervisor's restart back-off after a crash, as the
// kubelet's CrashLoopBackOff works: the first restart is immediate; each
// later one waits, Initial the first time, doubling up to Max; once a
// process has stayed up for Reset, its next crash is again restarted at once.
type Backoff struct {
	Initial, Max, Reset time.Duration
}

// DefaultBackoff is the kubelet's own CrashLoopBackOff (Kubernetes 1.37
// defaults: initialCrashLoopBackOff 10 s, MaxContainerRestartPeriod 5 min,
// and the crash-loop entry expires 600 s after the last restart): restarts
// at 0, 10, 20, 40, 80, 160, 300, 300 … seconds. A drill with a crashing
// victim therefore shows what a cluster shows: the process down for longer
// and longer, not a quick revival that hides the outage.
var DefaultBackoff = Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute}

// DefaultTerminationGrace is Kubernetes' default
// terminationGracePeriodSeconds: how long a pod-failure waits after SIGTERM
// before SIGKILL.
const DefaultTerminationGrace = 30 * time.Second

func defaultConfig() config {
	return config{
		command:      []string{"victim"},
		rand:         rand.New(rand.NewSource(time.Now().UnixNano())),
		namespace:    "local",
		readyTimeout: 20 * time.Second,
		stopGrace:    3 * time.Second,
		termGrace:    DefaultTerminationGrace,
		backoff:      DefaultBackoff,
	}
}

// WithVictimCommand sets how the victim is launched: path and leading args,
// before the victim's own flags (e.g. the CLI's own executable and "victim").
// The default is "victim" on $PATH.
func WithVictimCommand(path string, args ...string) Option {
	return func(c *config) { c.command = append([]string{path}, args...) }
}

// WithEnv adds KEY=VALUE entries to the children's environment, which is
// otherwise the runner's.
func WithEnv(kv ...string) Option {
	return func(c *config) { c.env = append(c.env, kv...) }
}

// WithRand sets the source of random choices (selector modes), for
// reproducible runs. It must not be used elsewhere concurrently.
func WithRand(r *rand.Rand) Option { return func(c *config) { c.rand = r } }

// WithSeed is WithRand(rand.New(rand.NewSource(seed))).
func WithSeed(seed int64) Option { return WithRand(rand.New(rand.NewSource(seed))) }

// WithNamespace sets the namespace of the local pods (default "local").
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithDataDir sets the parent directory of the run's data directory (ledger
// store); the default is os.TempDir().
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithKeepData keeps the run's data directory on Close.
func WithKeepData() Option { return func(c *config) { c.keepData = true } }

// WithReadyTimeout bounds how long Start and StartLoad wait for /readyz
// (default 20 s).
func WithReadyTimeout(d time.Duration) Option { return func(c *config) { c.readyTimeout = d } }

// WithStopGrace is how long Stop waits after SIGTERM before SIGKILL
// (default 3 s).
func WithStopGrace(d time.Duration) Option { return func(c *config) { c.stopGrace = d } }

// WithTerminationGrace sets the pods' termination grace period (default
// DefaultTerminationGrace, 30 s): a pod-failure stops the process as the
// kubelet stops a container whose image changed, with SIGTERM and, if it is
// still running after d, SIGKILL.
func WithTerminationGrace(d time.Duration) Option { return func(c *config) { c.termGrace = d } }

// WithBackoff replaces DefaultBackoff.
func WithBackoff(b Backoff) Option { return func(c *config) { c.backoff = b } }

// WithLogs copies every child's stderr and stdout, each line prefixed with
// the pod name, to w (which must be safe for concurrent use). By default
// only the last 8 KiB of stderr per pod is kept, for crash headlines.
func WithLogs(w io.Writer) Option { return func(c *config) { c.logs = w } }
