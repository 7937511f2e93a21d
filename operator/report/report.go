// Package report renders what a drill did and found: report.json (the
// verdict, phase, summary, findings, timeline and the full time series),
// report.md (ready to paste into a postmortem) and report.html (one
// self-contained page with charts, the fault windows shaded).
//
// The local runner writes the three files; the operator stores report.json
// in a ConfigMap, from which `cascadelab report` renders the other two.
package report

import (
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/victimlog"
)

// Report is the complete record of one drill.
type Report struct {
	// Name is the experiment's name; Namespace is set in a cluster.
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// Backend is "local" or "kubernetes".
	Backend string `json:"backend"`
	// StartedAt is the wall-clock time the load started.
	StartedAt time.Time `json:"startedAt"`
	// Elapsed is the drill's wall-clock length.
	Elapsed time.Duration `json:"elapsed"`

	Phase    v1alpha1.Phase     `json:"phase"`
	Verdict  v1alpha1.Verdict   `json:"verdict"`
	Summary  v1alpha1.Summary   `json:"summary"`
	Findings []v1alpha1.Finding `json:"findings"`
	// Hypothesis is each bound of the hypothesis as the engine judged it:
	// held, breached or not judged, with why (empty in reports written
	// before the engine judged rows: the report then derives them from the
	// findings).
	Hypothesis []v1alpha1.HypothesisRow `json:"hypothesis,omitempty"`
	Faults     []v1alpha1.FaultStatus   `json:"faults,omitempty"`
	Timeline   []engine.TimelineEvent   `json:"timeline"`
	Series     []engine.Point           `json:"series"`

	// Races are the first double charges, each reconstructed from the
	// victim's log events across processes; Crashes are the last events
	// each crashed process wrote (see operator/victimlog).
	Races   []victimlog.Chain        `json:"races,omitempty"`
	Crashes []victimlog.CrashContext `json:"crashes,omitempty"`
	// Residue is the check for chaos left in the victim pods' network
	// namespaces after the faults (kubernetes backend, network faults).
	Residue *Residue `json:"residue,omitempty"`

	// Spec is the experiment as run (defaults applied).
	Spec v1alpha1.ExperimentSpec `json:"spec"`
}
