// Package local is the local backend of "cascadelab run": it runs the
// victim topology as child processes on loopback, puts an in-process
// toxiproxy proxy on every service-to-service edge, and carries out Chaos
// Mesh PodChaos and NetworkChaos faults with signals and toxics.
//
// Each process is a "pod" named <role>-<i> (ledger-0, orders-0, orders-1,
// gateway-0, loadgen-0) with the labels a cluster pod would have
// (app.kubernetes.io/name=cascadelab-victim, app.kubernetes.io/component=ROLE,
// app.kubernetes.io/instance=EXPERIMENT), so Chaos Mesh selectors and modes
// select among them as they would in a cluster.
//
// With spec.target.process instead of the victim (NewForSpec), the pods are
// the user's own program: target-<i>, one per replica, labelled with
// spec.target.selector.matchLabels, $(PORT) and $(ADMIN_PORT) replaced in
// its command and env and set as PORT and ADMIN_PORT. The load reaches each
// replica through its own proxy (a round-robin TCP front spreads its
// connections over several), so a NetworkChaos on the target acts on its
// inbound edge: the only edge the kit sees, as it does not proxy the
// target's own calls.
//
// A driver uses it like this:
//
//	if errs := local.CheckSupported(spec); len(errs) > 0 { … }   // before the run
//	b, err := local.NewForSpec(name, spec, local.WithVictimCommand(exe, "victim"), local.WithSeed(seed))
//	defer b.Close()                          // recovers faults, kills children, closes proxies
//	err = b.Start(ctx)                       // ledger, orders, gateway; waits for /readyz
//	err = b.StartLoad(ctx, spec.Load, 0)     // loadgen-0 → gateway-0; the crash clock starts here
//	targets, err := b.Inject(ctx, i, spec.Faults[i])
//	err = b.Recover(ctx, i)
//	for c := range b.Crashes() { … }         // reported as soon as a child exits
//	b.Targets(); b.Restarts()                // what to scrape, restart counts
//	err = b.Stop(ctx)                        // SIGTERM, then SIGKILL after the grace period
//
// Supervisor. Every pod is restarted when it exits (restartPolicy Always;
// the loadgen is OnFailure, like a Job), with the kubelet's own
// CrashLoopBackOff (DefaultBackoff): the first crash restarts at once, the
// next after 10 s, then 20 s, doubling up to 5 min, and a process that
// stayed up 10 min is restarted at once again. A crashing victim is
// therefore down as long as it would be in a cluster; WithBackoff shortens
// it. Faults act as in a cluster too: pod-kill replaces the process at once
// (a new pod: no back-off, no restart counted, a new PID as its
// Target.Instance), container-kill is a counted restart under the back-off,
// and pod-failure stops the process as the kubelet stops a container whose
// image changed, SIGTERM and then SIGKILL after the termination grace
// period (WithTerminationGrace, 30 s by default). Each exit is sent on
// Crashes as soon as cmd.Wait returns, with the exit code or signal, and the
// headline found in the last 8 KiB of the child's stderr.
//
// Children run in their own process group; on Linux with Pdeathsig SIGKILL,
// so they die with the runner even when it is killed with SIGKILL (Pdeathsig is
// bound to the forking OS thread; the Go runtime does not end threads of
// goroutines that are not locked to them, and this package locks none).
//
// Faults that the backend cannot honour are rejected by CheckSupported with
// field paths before the run; see CheckSupported and network.go for what each
// NetworkChaos action becomes.
package local
