// Package kube is the cluster backend of cascadelab: a controller-runtime
// reconciler that drives the shared engine for each Experiment.
//
// The engine decides everything (what to do next, what was found, the
// verdict); the reconciler only carries out its actions against the API
// server and reports back what it observed:
//
//   - StartVictim: Deployments and Services for gateway, orders and ledger
//     (or the existing pods of spec.target);
//   - StartLoad: a Job running the victim image with --role=loadgen;
//   - InjectFault / RecoverFault: Chaos Mesh PodChaos and NetworkChaos objects
//     named <experiment>-<fault>, created and deleted;
//   - Stop: the load and the victim deleted.
//
// Each reconcile runs ordered steps (opt-in check, policy check — the
// manager's image allow-list, load rate cap and loadURL rule, refused with
// reason PolicyViolation before anything is created —, Chaos Mesh check,
// engine, actions, observation) and patches the status once, in a deferred
// call. The creator's rights are checked before that, at admission, by the
// validating webhook in operator/admission.
// A restarted manager rebuilds the engine from status with engine.Restore and
// never leaves chaos behind: every chaos object carries the label
// cascadelab.dev/experiment, an owner reference, and is deleted explicitly on
// recovery, completion, abort and Experiment deletion (finalizer
// cascadelab.dev/cleanup).
//
// Only namespaces labelled cascadelab.dev/chaos=enabled are drilled.
package kube

import "github.com/cascadelab/cascadelab/operator/observe"

// Labels, annotations and names shared by the objects the reconciler creates.
const (
	// LabelExperiment names the Experiment an object belongs to.
	LabelExperiment = "cascadelab.dev/experiment"
	// LabelName is the standard name label; victim pods carry NameVictim.
	LabelName = observe.LabelName
	// LabelComponent is the victim role (gateway, orders, ledger, loadgen).
	LabelComponent = observe.LabelComponent
	// LabelInstance is the Experiment's name.
	LabelInstance = observe.LabelInstance
	// LabelManagedBy marks objects the operator manages.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// NameVictim is the value of LabelName on victim pods.
	NameVictim = observe.AppName
	// ManagedBy is the value of LabelManagedBy on every object the
	// manager creates.
	ManagedBy = "cascadelab"
	// ManagerName is the event reporter.
	ManagerName = "cascadelab-operator"

	// LabelChaosOptIn must be set to OptInValue on a namespace before any
	// drill runs in it.
	LabelChaosOptIn = "cascadelab.dev/chaos"
	// OptInValue is the value of LabelChaosOptIn that allows drills.
	OptInValue = "enabled"

	// AnnotationAdminPort on a pod overrides the port its admin server
	// (/metrics, /debug/goleak) is scraped on. Without it the container port
	// named "admin" is used, then spec.target.adminPort, then 9090.
	AnnotationAdminPort = "cascadelab.dev/admin-port"

	// Finalizer keeps an Experiment until its chaos and victim are deleted.
	Finalizer = "cascadelab.dev/cleanup"

	// AppPort and AdminPort are the victim's container ports.
	AppPort   = 8080
	AdminPort = 9090
)

// Roles of the victim (defined once, in operator/observe).
const (
	RoleGateway = observe.RoleGateway
	RoleOrders  = observe.RoleOrders
	RoleLedger  = observe.RoleLedger
	RoleLoadgen = observe.RoleLoadgen
)
