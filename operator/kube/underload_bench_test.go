package kube_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/internal/procstat"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// BenchmarkVictimsAtOnce applies n Experiments at once, one per
// namespace (the shortened drill of the harness against the fixed victim:
// steady state 3 s, a ledger delay at 3 s, a pod-kill at 7 s, 14 s in all),
// on envtest with the kubelet and chaos-daemon stand-ins, each at 20
// requests/s, and reports:
// apply → first fault injected (the status's startTime plus the fault's
// injectedAt: the chaos object acknowledged) p50 and p99 over the n drills,
// the drills' outcomes, the reconcile errors, and this process's CPU (from
// /proc/self/stat) and heap while the drills ran. The process holds the
// manager and the stand-ins (not the victims, which are child processes),
// so CPU and heap are an upper bound on the manager's. n=1 is the baseline.
//
//	go test -run '^$' -bench VictimsAtOnce -benchtime 1x -timeout 30m ./operator/kube/
func BenchmarkVictimsAtOnce(b *testing.B) {
	e := startEnv(b)
	e.startManager(b)
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				measureAtOnce(b, e, n)
			}
		})
	}
}

func measureAtOnce(b *testing.B, e *env, n int) {
	ctx := context.Background()
	nss := make([]string, n)
	for i := range nss {
		nss[i] = e.namespace(b, true)
		e.standIns(b, nss[i])
	}
	errs0 := testutil.ToFloat64(kube.ReconcileErrors)
	cpu0, wall0 := procCPU(b), time.Now()
	var peakHeap uint64
	applied := make([]time.Time, n)
	for i, ns := range nss {
		exp := drill(ns, "load", v1alpha1.CacheSharded, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded)
		// 20 requests/s a drill: twenty drills' victims (100 processes) on
		// 2 cores at the harness's 150/s each saturate the machine and
		// measure it, not the operator.
		exp.Spec.Load.Rate = 20
		applied[i] = time.Now()
		if err := e.c.Create(ctx, exp); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
		done := 0
		for _, ns := range nss {
			exp := &v1alpha1.Experiment{}
			if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "load"}, exp); err == nil && exp.Status.Phase.Terminal() {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			b.Errorf("%d of %d drills finished within 5 min (figures below are of what ran)", done, n)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The first injection of each drill, from its status: the load's start
	// (startTime) plus the fault's injectedAt offset.
	first := make([]time.Duration, n)
	for i, ns := range nss {
		exp := &v1alpha1.Experiment{}
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "load"}, exp); err != nil || exp.Status.StartTime == nil {
			continue
		}
		for _, f := range exp.Status.Faults {
			if f.InjectedAt == nil {
				continue
			}
			d := exp.Status.StartTime.Add(f.InjectedAt.Duration).Sub(applied[i])
			if first[i] == 0 || d < first[i] {
				first[i] = d
			}
		}
	}
	wall := time.Since(wall0)
	cpu := procCPU(b) - cpu0
	var missing int
	var got []time.Duration
	for _, d := range first {
		if d == 0 {
			missing++
			continue
		}
		got = append(got, d)
	}
	// Reported, not failed: a drill that missed its fault windows is judged
	// Inconclusive by the kit's own evidence rule; how many did is the
	// figure.
	b.ReportMetric(float64(missing), "drills-without-fault")
	outcomes := map[string]int{}
	for _, ns := range nss {
		exp := &v1alpha1.Experiment{}
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "load"}, exp); err != nil {
			continue
		}
		why := ""
		if len(exp.Status.Findings) > 0 {
			why = " " + string(exp.Status.Findings[0].Type)
			if outcomes[string(exp.Status.Phase)+"/"+string(exp.Status.Verdict)+why+" Succeeded"] == 0 {
				b.Logf("%s: %s", ns, exp.Status.Findings[0].Message)
			}
		}
		for _, c := range exp.Status.Conditions {
			if c.Type == "Ready" {
				why += " " + c.Reason
			}
		}
		outcomes[string(exp.Status.Phase)+"/"+string(exp.Status.Verdict)+why]++
	}
	b.Logf("n=%d outcomes: %v", n, outcomes)
	slices.Sort(got)
	pct := func(p float64) time.Duration {
		if len(got) == 0 {
			return 0
		}
		return got[min(len(got)-1, int(p*float64(len(got)-1)+0.5))]
	}
	errs := testutil.ToFloat64(kube.ReconcileErrors) - errs0
	b.ReportMetric(pct(0.5).Seconds(), "first-fault-p50-s")
	b.ReportMetric(pct(0.99).Seconds(), "first-fault-p99-s")
	b.ReportMetric(errs, "reconcile-errors")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "process-cpu-%")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	b.Logf("n=%d: apply → first fault p50 %s p99 %s; reconcile errors %.0f; process CPU %s over %s; peak heap %.0f MiB; load %s",
		n, pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), errs, cpu.Round(time.Millisecond), wall.Round(time.Second),
		float64(peakHeap)/(1<<20), procstat.LoadAverage())
}

func procCPU(tb testing.TB) time.Duration {
	d, err := procstat.SelfCPU()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
