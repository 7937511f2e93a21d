package kube_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// TestLoadJobArgs checks the load Job's command line: spec.load's rate and
// ratio, and --duplicate-after only when load.duplicateAfter is above zero
// (the loadgen's 0 is the same).
func TestLoadJobArgs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  []string // the --duplicate-after flags
	}{
		{"later duplicates", 300 * time.Millisecond, []string{"--duplicate-after=300ms"}},
		{"same-moment duplicates", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := drill("drills", "args", v1alpha1.CacheRacy, v1alpha1.IdempotencyNone, v1alpha1.GatewayLeaky)
			exp.Spec.Load = v1alpha1.LoadSpec{Rate: 40, DuplicateRatio: "0.2", DuplicateAfter: metav1.Duration{Duration: tc.after}}
			job := kube.LoadJob(exp, "ghcr.io/cascadelab/victim:dev", "http://args-gateway:8080")
			args := job.Spec.Template.Spec.Containers[0].Args
			for _, w := range []string{"--role=loadgen", "--target=http://args-gateway:8080", "--rate=40", "--duplicate-ratio=0.2"} {
				if !slices.Contains(args, w) {
					t.Errorf("load Job args %q lack %s", args, w)
				}
			}
			var got []string
			for _, a := range args {
				if strings.HasPrefix(a, "--duplicate-after") {
					got = append(got, a)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("load Job args %q: --duplicate-after flags %q, want %q", args, got, tc.want)
			}
		})
	}
}
