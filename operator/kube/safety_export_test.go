package kube

// The builders of the objects the reconciler creates, for the pod security
// tests of package kube_test.
var (
	VictimObjects = victimObjects
	LoadJob       = loadJob
)
