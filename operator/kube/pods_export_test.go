package kube

// InstanceLog is instanceLog, for the kubelet stand-in's tests of a log
// read while the container restarts again.
var InstanceLog = instanceLog

// ErrOtherInstance is instanceLog's refusal of another instance's log.
var ErrOtherInstance = errOtherInstance
