package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
	"github.com/cascadelab/cascadelab/operator/observe"
	"github.com/cascadelab/cascadelab/operator/victimlog"
)

// clusterBackend is the cluster behind drive.Driver for one Experiment:
// the victim as Deployments and Services, the load as a Job, faults as
// Chaos Mesh PodChaos and NetworkChaos objects. Every method reads the
// cluster and makes it so (create what is missing, delete what must go),
// so a lost create or delete is simply made again at the next reconcile.
type clusterBackend struct {
	r *ExperimentReconciler
	// d is the reconcile in progress (the Experiment as read, the time,
	// the Events to record); set before each Step.
	d *drill

	crashes crashTracker
	// restartBase is each pod's restart count when the load started:
	// restarts are counted from then (restarts.go).
	restartBase restartBase
	// podFaults are the pod faults created, to tell kills from crashes.
	podFaults []podKill
	// crashContexts are the last events of each crashed pod before its
	// crash (the first victimlog.MaxCrashes), read when the crash is seen;
	// evidence is everything the victim's logs showed, read once before the
	// victim is deleted. Both live in the manager's memory: a manager
	// restarted mid-drill reports what it read since.
	crashContexts []victimlog.CrashContext
	evidence      *victimlog.Evidence
	// residue is the check for chaos left in the victim's network
	// namespaces (residue.go).
	residue residueCheck
	// namesChecked: every name the drill may create was found free or
	// the drill's own (ownership.go checkNames), once per backend.
	namesChecked bool
	// created: the drill created an object (for a name conflict's message).
	created bool
	// loadService is the loadURL's Service as read when the load Job was
	// created (loadservice.go), nil before.
	loadService *admission.LoadServiceState
}

// podKill is one pod fault: when its chaos object was created, when it
// was removed (zero while it is in effect) and the pods Chaos Mesh recorded
// (nil until it confirmed).
type podKill struct {
	fault     int
	at, until time.Time
	targets   []string
	network   bool // a NetworkChaos: exits are the kubelet's, after failed probes
}

// podFaultGrace is how long after a pod or network fault ends an exit of a
// pod it hit is still its doing (the container stopping, the image
// restored, a liveness probe's failures still counted).
const podFaultGrace = 30 * time.Second

// Name is "kubernetes".
func (b *clusterBackend) Name() string { return "kubernetes" }

func (b *clusterBackend) exp() *v1alpha1.Experiment { return b.d.exp }

// EnsureVictim creates the victim's objects (none for spec.target) and
// reports whether its pods are ready: every role of the kit's victim, or
// at least one pod of spec.target's selector.
func (b *clusterBackend) EnsureVictim(ctx context.Context) (bool, string, error) {
	exp := b.exp()
	if t := exp.Spec.Target; t != nil && t.Process != nil {
		err := drive.Permanent(errors.New("spec.target.process starts local processes (cascadelab run); on a cluster, drill existing pods chosen by spec.target.selector"))
		return false, err.Error(), err
	}
	if err := b.ensureNames(ctx); err != nil {
		return false, err.Error(), err
	}
	if exp.Spec.Victim != nil {
		if err := b.createAll(ctx, victimObjects(exp, b.d.image(), b.r.LedgerStorage)); err != nil {
			return false, err.Error(), err
		}
	}
	pods, err := listPods(ctx, b.r.Client, exp)
	if err != nil {
		return false, "", err
	}
	have := map[string]int{}
	targets := 0
	for i := range pods {
		p := &pods[i]
		if !podReady(p) || p.DeletionTimestamp != nil {
			continue
		}
		if p.Labels[LabelName] == NameVictim && p.Labels[LabelInstance] == exp.Name {
			have[podRole(p)]++
		} else {
			targets++
		}
	}
	msg := ""
	if v := exp.Spec.Victim; v != nil {
		for _, w := range []struct {
			role string
			n    int
		}{{RoleLedger, 1}, {RoleOrders, int(max(v.Orders.Replicas, 1))}, {RoleGateway, 1}} {
			if have[w.role] < w.n {
				msg += fmt.Sprintf("%s %d/%d ready; ", w.role, have[w.role], w.n)
			}
		}
	} else if targets == 0 {
		msg = "no ready pod matches spec.target.selector"
	}
	if msg != "" {
		setCondition(exp, v1alpha1.ConditionVictimReady, metav1.ConditionFalse, ReasonPodsNotReady, msg)
		return false, msg, nil
	}
	setCondition(exp, v1alpha1.ConditionVictimReady, metav1.ConditionTrue, ReasonPodsReady, "all victim pods ready")
	return true, "", nil
}

// EnsureLoad creates the load Job and reports whether its pod is ready.
func (b *clusterBackend) EnsureLoad(ctx context.Context) (bool, error) {
	exp := b.exp()
	target := ""
	if exp.Spec.Victim != nil {
		target = fmt.Sprintf("http://%s:%d", ObjectName(exp.Name, RoleGateway), AppPort)
	} else if exp.Spec.Target != nil {
		target = exp.Spec.Target.LoadURL
	}
	if target == "" {
		return true, nil // spec.target without loadURL: the load is the target's own traffic
	}
	if err := b.ensureNames(ctx); err != nil {
		return false, err
	}
	if err := b.checkLoadService(ctx); err != nil {
		return false, err
	}
	if err := b.createAll(ctx, []client.Object{loadJob(exp, b.d.image(), target)}); err != nil {
		return false, err
	}
	pods, err := listPods(ctx, b.r.Client, exp)
	if err != nil {
		return false, err
	}
	for i := range pods {
		// Ready, as the local backend waits for the load generator's
		// /readyz: the drill's clock starts when the load is being sent.
		if podRole(&pods[i]) == RoleLoadgen && podReady(&pods[i]) && pods[i].DeletionTimestamp == nil {
			return true, nil
		}
	}
	return false, nil
}

// createAll creates objects, treating existing ones as created when the
// Experiment is their controller; one that is another's (its name taken
// since ensureNames looked) fails the drill with NameConflict. A request
// the API server refuses as invalid cannot succeed later: Permanent; one
// it refuses as Forbidden fails the drill (failForbidden).
func (b *clusterBackend) createAll(ctx context.Context, objs []client.Object) error {
	for _, o := range objs {
		err := createOwned(ctx, b.r.Client, b.r.reader(), b.exp(), o)
		switch {
		case err == nil:
			b.created = true
		case isConflict(err):
			return b.failConflict(err, b.created)
		case apierrors.IsForbidden(err):
			return b.failForbidden(ctx, o, err)
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
			return drive.Permanent(err)
		default:
			return err
		}
	}
	return nil
}

// Targets lists the drill's pods to scrape, with their restarts since the
// load started and their instances, and turns growing restart counts into
// crashes.
func (b *clusterBackend) Targets(ctx context.Context) ([]drive.Process, []observe.Crash, error) {
	exp := b.exp()
	pods, err := listPods(ctx, b.r.Client, exp)
	if err != nil {
		return nil, nil, err
	}
	if b.restartBase == nil {
		b.restartBase = restartBase{}
	}
	start := b.startTime()
	byName := map[string]int32{}
	for i := range pods {
		byName[pods[i].Name] = b.restartBase.since(&pods[i], start)
	}
	var out []drive.Process
	for _, t := range Targets(pods, exp, b.r.PodProxy) {
		out = append(out, drive.Process{Target: t, Restarts: byName[t.Name]})
	}
	crashes := b.crashes.crashes(ctx, pods, b.d.offset(), start, b.podKilled, b.previousLog)
	for _, c := range crashes {
		if !c.Injected {
			b.d.event(corev1.EventTypeWarning, "ProcessCrashed", "%s exited %d: %s", c.Target, c.ExitCode, c.Headline)
			b.crashContext(ctx, c)
		}
	}
	return out, crashes, nil
}

// crashContext reads the crashed container's log (its last 500 lines) for
// the victim events it wrote before it died.
func (b *clusterBackend) crashContext(ctx context.Context, c observe.Crash) {
	st := b.exp().Status.StartTime
	if len(b.crashContexts) >= victimlog.MaxCrashes || st == nil || !goRuntimeCrash(c.ExitCode, c.Headline) {
		return
	}
	log, err := b.previousLog(ctx, c.Target, "victim", b.crashes.exited[c.Target])
	if err != nil {
		logf.FromContext(ctx).V(1).Info("reading a crashed container's log", "pod", c.Target, "error", err.Error())
		return
	}
	b.crashContexts = append(b.crashContexts, victimlog.CrashContextFromLog(c.Target, st.Add(c.At).UnixMicro(), c.Headline, log))
}

// previousLog reads the last 500 lines of the log of pod's container
// instance that exited at finished (nil without r.Pods): enough for a Go
// crash's headline and the one goroutine's stack GOTRACEBACK=single prints
// after it.
func (b *clusterBackend) previousLog(ctx context.Context, pod, container string, finished time.Time) ([]byte, error) {
	if b.r.Pods == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return instanceLog(ctx, b.r.Pods.Pods(b.exp().Namespace), pod, container, finished, 500)
}

// podKilled names the pod or network fault in effect, or ended less than
// podFaultGrace ago, that hit pod (or may have: Chaos Mesh has not said which
// pods yet), and how it stopped the exit c; "" when none did.
func (b *clusterBackend) podKilled(pod string, c observe.Crash) string {
	for _, k := range b.podFaults {
		if !k.until.IsZero() && b.d.now.Sub(k.until) > podFaultGrace {
			continue
		}
		if k.targets != nil && !slices.Contains(k.targets, pod) {
			continue
		}
		f := b.exp().Spec.Faults[k.fault]
		if k.network {
			return fmt.Sprintf("stopped by the kubelet (%s) while %s (NetworkChaos %s) was on its network: the kubelet's probes pass through the pod's network",
				orReason(c), f.Name, f.NetworkChaos.Action)
		}
		return fmt.Sprintf("stopped by %s (PodChaos %s): %s", f.Name, f.PodChaos.Action, orReason(c))
	}
	return ""
}

// orReason says how a container ended: its headline (the termination
// reason) and exit code.
func orReason(c observe.Crash) string {
	if c.Headline == "" {
		return fmt.Sprintf("exit %d", c.ExitCode)
	}
	return fmt.Sprintf("%s, exit %d", c.Headline, c.ExitCode)
}

// EnsureStopped deletes every chaos object of the drill (there should be
// none left by now), the load and the victim.
func (b *clusterBackend) EnsureStopped(ctx context.Context) (bool, error) {
	exp := b.exp()
	if b.evidence == nil && exp.Spec.Victim != nil {
		b.readEvidence(ctx)
	}
	left, err := deleteAllChaos(ctx, b.r.Client, b.r.reader(), exp)
	if err != nil {
		return false, err
	}
	// The residue check runs before the victim's pods, and their network
	// namespaces, go; while it waits for a pod a network fault hit to run
	// again, the load is stopped and the victim kept.
	again := left == 0 && b.checkResidue(ctx)
	if err := b.r.deleteWorkloads(ctx, exp, exp.Spec.Victim != nil && !again); err != nil {
		return false, err
	}
	if again {
		return false, nil
	}
	if left > 0 {
		return false, nil
	}
	setCondition(exp, v1alpha1.ConditionVictimReady, metav1.ConditionFalse, ReasonStopped, "stopped at the end of the drill")
	return true, nil
}

// errNoChaosMesh is ErrChaosMeshMissing as a permanent fault error.
var errNoChaosMesh = drive.Permanent(ErrChaosMeshMissing)

func chaosMissing(err error) bool { return errors.Is(err, ErrChaosMeshMissing) }
