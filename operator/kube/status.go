package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/report"
)

// ReportName is the name of the ConfigMap holding an experiment's report.
func ReportName(exp string) string { return exp + "-report" }

// ReportKey is the ConfigMap key of the report JSON (operator/report.Report).
const ReportKey = "report.json"

// finishStatus computes the status written by the one deferred patch: the
// engine's status plus conditions, observedGeneration and the report.
func (d *drill) finishStatus(ctx context.Context) {
	exp := d.exp
	if d.run != nil {
		d.noteUnverifiedRecoveries()
		s := d.run.drv.Engine().Status()
		s.Conditions, s.ReportRef = exp.Status.Conditions, exp.Status.ReportRef
		if s.StartTime == nil {
			s.StartTime = exp.Status.StartTime
		}
		exp.Status = s
	}
	if exp.Status.Phase.Terminal() && exp.Status.CompletionTime == nil {
		exp.Status.CompletionTime = &metav1.Time{Time: d.now}
	}
	exp.Status.ObservedGeneration = exp.Generation
	setReady(exp, d.failReason, d.failMsg)
	var active []string
	for _, f := range exp.Status.Faults {
		if f.State == v1alpha1.FaultInjected {
			active = append(active, f.Name)
		}
	}
	switch {
	case len(active) > 0:
		setCondition(exp, v1alpha1.ConditionChaosActive, metav1.ConditionTrue, ReasonInjected, strings.Join(active, ", "))
	case !hasReason(exp, v1alpha1.ConditionChaosActive, ReasonChaosRejected):
		setCondition(exp, v1alpha1.ConditionChaosActive, metav1.ConditionFalse, ReasonNoActiveFaults, "no fault injected")
	}
	// A drill failed on a name conflict writes no report: the status says
	// why, and the report's name may be the very one taken.
	if d.run != nil && d.failReason != ReasonNameConflict && (exp.Status.Phase.Terminal() || d.now.Sub(d.run.lastReport) >= d.r.reportInterval()) {
		if err := d.writeReport(ctx); err != nil {
			d.log.Error(err, "writing report")
		} else {
			d.run.lastReport = d.now
			exp.Status.ReportRef = &v1alpha1.ReportRef{ConfigMap: ReportName(exp.Name)}
		}
	}
}

func hasReason(exp *v1alpha1.Experiment, typ, reason string) bool {
	for _, c := range exp.Status.Conditions {
		if c.Type == typ {
			return c.Reason == reason
		}
	}
	return false
}

// BuildReport assembles the full report of a drill from its engine.
func (d *drill) buildReport() report.Report {
	e, exp := d.run.drv.Engine(), d.exp
	rep := report.Report{
		Name: exp.Name, Namespace: exp.Namespace, Backend: "kubernetes",
		Phase: exp.Status.Phase, Verdict: exp.Status.Verdict, Summary: exp.Status.Summary,
		Findings: exp.Status.Findings, Faults: exp.Status.Faults, Hypothesis: exp.Status.Hypothesis,
		Timeline: e.Timeline(), Series: e.Series(), Spec: exp.Spec,
	}
	if b := d.run.backend; b != nil {
		rep.Crashes = b.crashContexts
		if b.evidence != nil {
			rep.Races, rep.Crashes = b.evidence.Races, b.evidence.Crashes
		}
		rep.Residue = b.residue.done
	}
	if st := exp.Status.StartTime; st != nil {
		rep.StartedAt = st.Time
		end := d.now
		if ct := exp.Status.CompletionTime; ct != nil {
			end = ct.Time
		}
		rep.Elapsed = end.Sub(st.Time)
	}
	return rep
}

// ReportBudget is the most bytes report.json may take in the report
// ConfigMap (ConfigMaps are limited to 1 MiB); a longer time series is
// down-sampled to fit, keeping its peaks and fault edges.
const ReportBudget = 512 << 10

// writeReport creates or updates the ConfigMap <name>-report (only the
// Experiment's own: writeOwnedConfigMap), the series
// down-sampled to keep it under ReportBudget (a Warning Event says so once,
// at the end of the drill).
func (d *drill) writeReport(ctx context.Context) error {
	rep := d.buildReport()
	series := rep.Series
	rep.Series = nil
	rest, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	var dropped int
	rep.Series, dropped = report.Downsample(series, ReportBudget-len(rest)-1024)
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if dropped > 0 && d.exp.Status.Phase.Terminal() {
		d.event(corev1.EventTypeWarning, "ReportDownsampled", "report.json series thinned from %d to %d points to stay under %d KiB (peaks and fault edges kept)",
			len(series), len(rep.Series), ReportBudget>>10)
	}
	return d.storeReport(ctx, b)
}

// writeOwnedConfigMap creates want, or updates the ConfigMap of its name
// when exp is its controller. One that is not exp's is never adopted nor
// written: a *nameConflict.
func writeOwnedConfigMap(ctx context.Context, c client.Client, rd client.Reader, exp *v1alpha1.Experiment, want *corev1.ConfigMap) error {
	cm := &corev1.ConfigMap{}
	err := c.Get(ctx, client.ObjectKeyFromObject(want), cm) // cached: written every ReportInterval
	if apierrors.IsNotFound(err) {
		err = c.Create(ctx, want.DeepCopy())
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		err = rd.Get(ctx, client.ObjectKeyFromObject(want), cm) // the cache was behind
	}
	if err != nil {
		return err
	}
	if !ownedBy(cm, exp) {
		return conflictOf(cm)
	}
	cm.Labels, cm.Data = want.Labels, want.Data
	return c.Update(ctx, cm) // its resourceVersion: that very object
}

// emitEvents records an Event for the phase change, each new finding (once,
// whatever its time: findingBook) and each fault step of this reconcile.
func (d *drill) emitEvents(before *v1alpha1.Experiment) {
	rec := d.r.Recorder
	if rec == nil {
		return
	}
	exp := d.exp
	if before.Status.Phase != exp.Status.Phase {
		from := string(before.Status.Phase)
		if from == "" {
			from = "New"
		}
		note := fmt.Sprintf("%s → %s", from, exp.Status.Phase)
		if exp.Status.Verdict != "" {
			note += ", verdict " + string(exp.Status.Verdict)
		}
		typ := corev1.EventTypeNormal
		if exp.Status.Phase == v1alpha1.PhaseFailed || exp.Status.Phase == v1alpha1.PhaseAborted {
			typ = corev1.EventTypeWarning
		}
		rec.Eventf(exp, nil, typ, "Phase"+string(exp.Status.Phase), "Reconcile", "%s", note)
	}
	for _, f := range sentFindings.fresh(exp.UID, before.Status.Findings, exp.Status.Findings) {
		rec.Eventf(exp, nil, corev1.EventTypeWarning, string(f.Type), "Judge", "%s at %s: %s", f.Target, f.At.Duration.Round(100*time.Millisecond), f.Message)
	}
	for _, ev := range d.events {
		rec.Eventf(exp, nil, ev.typ, ev.reason, "Reconcile", "%s", ev.note)
	}
}
