package local

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strconv"
	"strings"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// matches reports whether p satisfies every selector that is set, as Chaos
// Mesh requires when several are given. An empty namespace list means every
// local pod (they all live in the backend's namespace). Local pods carry no
// annotations, so any annotationSelectors match none. Unsupported fields
// (nodes, nodeSelectors, fieldSelectors, podPhaseSelectors) are rejected by
// CheckSupported.
func matches(s chaosv1alpha1.PodSelectorSpec, p *pod) (bool, error) {
	if len(s.Namespaces) > 0 && !slices.Contains(s.Namespaces, p.namespace) {
		return false, nil
	}
	if len(s.Pods) > 0 && !slices.Contains(s.Pods[p.namespace], p.name) {
		return false, nil
	}
	if len(s.AnnotationSelectors) > 0 {
		return false, nil
	}
	if !labels.SelectorFromSet(s.LabelSelectors).Matches(labels.Set(p.labels)) {
		return false, nil
	}
	if len(s.ExpressionSelectors) > 0 {
		sel, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchExpressions: s.ExpressionSelectors})
		if err != nil {
			return false, fmt.Errorf("expressionSelectors: %w", err)
		}
		if !sel.Matches(labels.Set(p.labels)) {
			return false, nil
		}
	}
	return true, nil
}

// selectPods applies a Chaos Mesh selector and mode to pods (sorted by
// name), drawing random choices from r:
//
//	one                 one pod at random
//	all                 every matching pod
//	fixed N             N pods at random (all of them when fewer match)
//	fixed-percent P     floor(n·P/100) pods at random
//	random-max-percent  floor(n·R/100) pods at random, R uniform in [0, P]
//
// A selector that matches no pod is an error, and so is a mode that selects
// none, except random-max-percent, which may legitimately draw zero.
func selectPods(sel chaosv1alpha1.PodSelector, pods []*pod, r *rand.Rand) ([]*pod, error) {
	var matched []*pod
	for _, p := range pods {
		ok, err := matches(sel.Selector, p)
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, p)
		}
	}
	if len(matched) == 0 {
		return nil, fmt.Errorf("selector matches no local pod")
	}
	slices.SortFunc(matched, func(a, b *pod) int { return strings.Compare(a.name, b.name) })
	n := len(matched)
	num := 0
	switch sel.Mode {
	case chaosv1alpha1.OneMode:
		num = 1
	case chaosv1alpha1.AllMode:
		return matched, nil
	case chaosv1alpha1.FixedMode:
		v, err := strconv.Atoi(sel.Value)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("mode fixed needs a positive integer value, got %q", sel.Value)
		}
		num = min(v, n)
	case chaosv1alpha1.FixedPercentMode, chaosv1alpha1.RandomMaxPercentMode:
		v, err := strconv.Atoi(sel.Value)
		if err != nil || v < 0 || v > 100 {
			return nil, fmt.Errorf("mode %s needs a value from 0 to 100, got %q", sel.Mode, sel.Value)
		}
		if sel.Mode == chaosv1alpha1.RandomMaxPercentMode {
			v = r.Intn(v + 1)
		}
		num = int(math.Floor(float64(n) * float64(v) / 100))
		if num == 0 {
			if sel.Mode == chaosv1alpha1.RandomMaxPercentMode {
				return nil, nil
			}
			return nil, fmt.Errorf("mode fixed-percent %s%% of %d pods selects none", sel.Value, n)
		}
	default:
		return nil, fmt.Errorf("unknown selector mode %q", sel.Mode)
	}
	perm := r.Perm(n)[:num]
	slices.Sort(perm)
	out := make([]*pod, 0, num)
	for _, i := range perm {
		out = append(out, matched[i])
	}
	return out, nil
}
