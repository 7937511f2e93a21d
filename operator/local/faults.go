package local

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// activeFault is what Recover undoes.
type activeFault struct {
	toxics []toxic
	held   []*pod // pod-failure
	timer  *time.Timer
}

// Inject carries out fault i (spec.faults[i]) and returns the names of the
// selected pods:
//
//   - pod-kill, container-kill: SIGKILL to the process group (after SIGTERM
//     and gracePeriod seconds when gracePeriod is set), and the crash is
//     marked Injected. A pod-kill replaces the process at once (a new pod:
//     no back-off, not a restart); a container-kill is a restart after the
//     crash-loop back-off. Nothing to recover.
//   - pod-failure: SIGTERM, SIGKILL after the termination grace period,
//     and the pod stays down until Recover(i) or, when duration is set,
//     until it elapses; then it starts again at once. Its restart is
//     counted as injected, not organic. See podChaos.
//   - NetworkChaos: toxics on the proxied edges chosen by selector,
//     direction and target (see streamsFor and toxicsFor), until Recover(i)
//     or the end of duration.
//
// Unsupported fields are refused as CheckSupported would, with paths under
// spec.faults[i]. A selector matching no pod is an error.
func (b *Backend) Inject(ctx context.Context, i int, f v1alpha1.Fault) ([]string, error) {
	path := field.NewPath("spec", "faults").Index(i)
	var errs field.ErrorList
	switch {
	case f.PodChaos != nil && f.NetworkChaos == nil:
		errs = checkPodChaos(path.Child("podChaos"), f.PodChaos)
	case f.NetworkChaos != nil && f.PodChaos == nil:
		errs = checkNetworkChaos(path.Child("networkChaos"), f.NetworkChaos)
	default:
		errs = field.ErrorList{field.Invalid(path, f.Name, "exactly one of podChaos or networkChaos must be set")}
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	b.mu.Lock()
	if b.closed || !b.started {
		b.mu.Unlock()
		return nil, errors.New("local backend: Inject before Start or after Close")
	}
	if _, ok := b.faults[i]; ok {
		b.mu.Unlock()
		return nil, fmt.Errorf("fault %d (%s) is already injected", i, f.Name)
	}
	pods := append([]*pod{}, b.pods...)
	edges := append([]*edge{}, b.edges...)
	b.mu.Unlock()

	var (
		af       = &activeFault{}
		selected []*pod
		dur      *string
		err      error
	)
	if pc := f.PodChaos; pc != nil {
		dur = pc.Duration
		if selected, err = b.selectPods(pc.PodSelector, pods); err != nil {
			return nil, fmt.Errorf("%s: %w", path.Child("podChaos", "selector"), err)
		}
		b.podChaos(pc, selected, af)
	} else {
		nc := f.NetworkChaos
		dur = nc.Duration
		if selected, err = b.netChaos(i, nc, pods, edges, af); err != nil {
			return nil, fmt.Errorf("%s: %w", path.Child("networkChaos"), err)
		}
	}
	if dur != nil {
		if d, _ := time.ParseDuration(*dur); d > 0 {
			af.timer = time.AfterFunc(d, func() { _ = b.Recover(context.Background(), i) })
		}
	}
	b.mu.Lock()
	b.faults[i] = af
	b.mu.Unlock()
	names := make([]string, len(selected))
	for j, p := range selected {
		names[j] = p.name
	}
	return names, nil
}

// podChaos carries out a PodChaos on the selected pods as a cluster would:
//
//   - pod-failure: Chaos Mesh swaps the image for pause, and the kubelet
//     stops the container as it stops any container, SIGTERM and then
//     SIGKILL after the termination grace period (WithTerminationGrace,
//     30 s by default); the pod stays down until recovered.
//   - pod-kill: SIGKILL (SIGTERM first, SIGKILL after gracePeriod seconds,
//     when gracePeriod is set); the process is replaced at once as a new pod
//     would be, not counted as a restart.
//   - container-kill: the same signals; a container restart, counted, after
//     the crash-loop back-off.
func (b *Backend) podChaos(pc *chaosv1alpha1.PodChaosSpec, selected []*pod, af *activeFault) {
	cause := exitPodKill
	if pc.Action == chaosv1alpha1.ContainerKillAction {
		cause = exitContainerKill
	}
	for _, p := range selected {
		switch {
		case pc.Action == chaosv1alpha1.PodFailureAction:
			p.mu.Lock()
			p.held = true
			p.mu.Unlock()
			af.held = append(af.held, p)
			p.terminate(b.cfg.termGrace, exitPodFailure)
		case pc.GracePeriod > 0:
			p.terminate(time.Duration(pc.GracePeriod)*time.Second, cause)
		default:
			p.signal(syscall.SIGKILL, cause)
		}
	}
}

func (b *Backend) netChaos(i int, nc *chaosv1alpha1.NetworkChaosSpec, pods []*pod, edges []*edge, af *activeFault) ([]*pod, error) {
	specs, err := toxicsFor(nc)
	if err != nil {
		return nil, err
	}
	selected, err := b.selectPods(nc.PodSelector, pods)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	s := set(selected)
	var t map[*pod]bool
	if nc.Target != nil {
		tp, err := b.selectPods(*nc.Target, pods)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		t = set(tp)
	}
	for _, e := range edges {
		streams := streamsFor(e, nc.Direction, s, t)
		if len(streams) == 0 {
			continue
		}
		added, err := addToxics(e, i, streams, specs)
		af.toxics = append(af.toxics, added...)
		if err != nil {
			return nil, errors.Join(err, removeToxics(context.Background(), af.toxics))
		}
	}
	if len(af.toxics) == 0 && len(selected) > 0 {
		return nil, errors.New("the selected pods share no proxied edge (with the target, if any)")
	}
	return selected, nil
}

func set(pods []*pod) map[*pod]bool {
	m := make(map[*pod]bool, len(pods))
	for _, p := range pods {
		m[p] = true
	}
	return m
}

// Recover undoes fault i: removes its toxics, or lets pods held down by
// pod-failure start again. Recovering a fault that is not active is a no-op.
func (b *Backend) Recover(ctx context.Context, i int) error {
	b.mu.Lock()
	af, ok := b.faults[i]
	delete(b.faults, i)
	b.mu.Unlock()
	if !ok {
		return nil
	}
	if af.timer != nil {
		af.timer.Stop()
	}
	for _, p := range af.held {
		p.mu.Lock()
		p.held = false
		p.mu.Unlock()
		p.poke()
	}
	return removeToxics(ctx, af.toxics)
}

// RecoverAll recovers every active fault.
func (b *Backend) RecoverAll(ctx context.Context) error {
	b.mu.Lock()
	var ids []int
	for i := range b.faults {
		ids = append(ids, i)
	}
	b.mu.Unlock()
	var errs []error
	for _, i := range ids {
		errs = append(errs, b.Recover(ctx, i))
	}
	return errors.Join(errs...)
}
