package sweep

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// Scale sets spec.duration to length and scales the experiment's schedule
// by length/duration: the steady state, every fault's offset and every
// fault's own duration (podChaos.duration, networkChaos.duration), each
// rounded to the millisecond. The result keeps the API's rules: the steady
// state is positive and shorter than the drill, every fault starts after
// the steady state (when it did) and before the end and ends by it, and no
// fault duration is zero. The abort guard's window and the engine's settle
// time are not scaled.
func Scale(spec *v1alpha1.ExperimentSpec, length time.Duration) error {
	from := spec.Duration.Duration
	if from <= 0 {
		return fmt.Errorf("spec.duration %s: cannot scale a drill without a length", spec.Duration.Duration)
	}
	if length < 2*time.Millisecond {
		return fmt.Errorf("cell length %s is too short to scale a schedule into", length)
	}
	scale := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * float64(length) / float64(from)).Round(time.Millisecond)
	}
	spec.Duration = metav1.Duration{Duration: length}
	ss := spec.SteadyState.Duration
	if ss > 0 {
		spec.SteadyState = metav1.Duration{Duration: clamp(scale(ss), time.Millisecond, length-time.Millisecond)}
	}
	for i := range spec.Faults {
		f := &spec.Faults[i]
		after := clamp(scale(f.After.Duration), 0, length-time.Millisecond)
		if ss > 0 && f.After.Duration >= ss {
			after = max(after, spec.SteadyState.Duration) // the clamp raised a tiny steady state
		}
		f.After = metav1.Duration{Duration: after}
		var own *string
		switch {
		case f.PodChaos != nil:
			own = f.PodChaos.Duration
		case f.NetworkChaos != nil:
			own = f.NetworkChaos.Duration
		}
		if own == nil {
			continue
		}
		d, err := time.ParseDuration(*own)
		if err != nil || d <= 0 {
			return fmt.Errorf("spec.faults[%d] (%s): duration %q cannot be scaled", i, f.Name, *own)
		}
		s := clamp(scale(d), time.Millisecond, length-after).String()
		if f.PodChaos != nil {
			f.PodChaos.Duration = &s
		} else {
			f.NetworkChaos.Duration = &s
		}
	}
	return nil
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}
