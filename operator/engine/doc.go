// Package engine is the drill's state machine and its judge. It has no
// Kubernetes client and no clock of its own: the local runner and the
// operator's reconciler are thin drivers that call it with the time and what
// they observed, carry out the actions it returns, and report back.
//
// The life of a drill:
//
//	Pending → SteadyState → Injecting → Recovering → Judging → Completed
//	                                   (or Aborted / Failed at any point)
//
// The API every driver uses (offsets are durations since the load started):
//
//	e, err := engine.New(spec, opts...)     // spec with defaults applied
//	e.Start() []Action                      // [StartVictim]; phase Pending
//	e.VictimReady() []Action                // [StartLoad]; phase SteadyState; offset 0 starts now
//	e.Tick(now) []Action                    // due InjectFault/RecoverFault/Stop; advances the phase
//	e.Observe(obs) []Action                 // judges a sample; on abort: RecoverFault for every active fault, then Stop
//	e.FaultInjected(i, at, targets)         // backend outcomes
//	e.FaultRecovered(i, at)
//	e.FaultFailed(i, at, err)               // injection refused: recorded, drill continues
//	e.Finish(now)                           // after Stop was carried out and a last Observe: Judging → Completed/Aborted, verdict
//	e.Stop(now, reason) []Action            // user stop or victim never came up: recover all, Stop; verdict Inconclusive
//	e.Fail(now, reason) []Action            // backend failure: recover all, Stop; phase Failed, Inconclusive
//	e.NextDue(now) time.Duration            // time until the next scheduled action (timers, RequeueAfter)
//	e.Status() v1alpha1.ExperimentStatus    // phase, verdict, faults, summary, findings (drivers add conditions)
//	e.Series() []Point; e.Timeline() []TimelineEvent
//	engine.Restore(spec, status, opts...)   // a restarted reconciler resumes from status
//
//	e.Want() Want                           // level-triggered: victim, load, each fault wanted in effect or not
//	e.Stopping() bool                       // the engine asked to stop: remove faults, last look, stop, Finish
//
// A driver that carries out the actions once and assumes them done loses
// whatever fails; operator/drive instead reconciles Want until the backend
// acknowledges each part. NextDue returns Never when nothing is scheduled. SetStartTime (optional)
// lets Status fill startTime and completionTime. Observations are judged
// per target from consecutive samples (counter resets handled as Prometheus
// does); findings are one per (type, target), capped at MaxFindings with a
// slot kept for Aborted; tunables are functional options (WithGoroutineFloor,
// WithMinRequests, WithMaxFindings, ...).
//
// A verdict needs evidence: Finish gives HypothesisHeld only when every
// fault was injected on at least one target and recovered, its effect was
// seen in the engine's own records (effect.go), every process answered in
// enough of its samples and the load ran (evidence.go); otherwise the
// drill is Inconclusive with a finding naming what is missing. A breach of
// the hypothesis is HypothesisViolated whatever else is missing.
//
// Every bound of the hypothesis is a row (rows.go), judged held, breached or
// not judged with why; a row not judged is an ObservationGap naming it. An
// effect is the fault's own (overlap.go): evidence another fault active at
// the same time could explain leaves it Inconclusive. The steady-state gate
// is applied again at Finish to breaches stamped before the first injection
// (gate.go); a restored engine keeps the faults' injected crashes and counts
// the time its driver was away as an ObservationGap (resume.go); a recovery
// the backend could not confirm is RecoveryUnverified.
//
// The engine evaluates no PromQL: the dashboards restate its signals in
// PromQL (package dashboards), and a test there holds them to its numbers.
package engine
