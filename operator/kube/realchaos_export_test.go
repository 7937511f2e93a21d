package kube

// SetLocalChaosValidation turns BuildChaos's own run of Chaos Mesh's
// validation on or off (on by default), for the tests where Chaos Mesh's
// admission webhook must be the one that refuses a chaos object.
func SetLocalChaosValidation(on bool) { skipLocalChaosValidation.Store(!on) }
