package local

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// TestStartLoadArgs checks the loadgen's command line, as the running
// process has it: spec.load's rate and ratio, and --duplicate-after only
// when load.duplicateAfter is above zero (the loadgen's 0 is the same).
func TestStartLoadArgs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  string // the --duplicate-after flag, "" for none
	}{
		{"later duplicates", 300 * time.Millisecond, "--duplicate-after=300ms"},
		{"same-moment duplicates", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newFake(t, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			load := v1alpha1.LoadSpec{Rate: 40, DuplicateRatio: "0.2", DuplicateAfter: metav1.Duration{Duration: tc.after}}
			if err := b.StartLoad(ctx, load, 0); err != nil {
				t.Fatal(err)
			}
			pid := podByName(b, "loadgen-0").PID
			if pid == 0 {
				t.Fatalf("no loadgen-0 among %+v", b.Pods())
			}
			raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
			for _, w := range []string{"--role=loadgen", "--rate=40", "--duplicate-ratio=0.2"} {
				if !slices.Contains(args, w) {
					t.Errorf("loadgen args %q lack %s", args, w)
				}
			}
			var got []string
			for _, a := range args {
				if strings.HasPrefix(a, "--duplicate-after") {
					got = append(got, a)
				}
			}
			var want []string
			if tc.want != "" {
				want = []string{tc.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("loadgen args %q: --duplicate-after flags %q, want %q", args, got, want)
			}
		})
	}
}
