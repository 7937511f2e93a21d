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
// NextDue returns Never when nothing is scheduled. SetStartTime (optional)
// lets Status fill startTime and completionTime. Observations are judged
// per target from consecutive samples (counter resets handled as Prometheus
// does); findings are one per (type, target), capped at MaxFindings with a
// slot kept for Aborted; tunables are functional options (WithGoroutineFloor,
// WithMinRequests, WithMaxFindings, ...).
//
// The PromQL expressions that dashboards use for the same signals live in
// this package (promql.go), next to the code that computes them from scrapes.
package engine
