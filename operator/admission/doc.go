// Package admission keeps the cascadelab manager from being a confused
// deputy: the manager holds rights (Deployments, Jobs, PodChaos,
// NetworkChaos in every opted-in namespace) that the people who create
// Experiments may not have, so nothing an Experiment asks for may go beyond
// what its author could do alone or what the manager's operator allows.
//
// Two layers, both served by the manager:
//
//   - Validator, a validating admission webhook for Experiments (create
//     and update). It runs a SubjectAccessReview for the requesting user
//     for every object the manager would create on their behalf
//     (RequiredPermissions: podchaos/networkchaos for the kinds the faults
//     use; deployments, services and jobs for the kit's own victim; jobs
//     for the load of spec.target) and refuses the request naming each
//     missing permission. It also applies the Policy.
//   - Policy, the manager's own limits, applied both by the webhook and by
//     the reconciler before a drill starts (so an Experiment admitted while
//     the webhook was off still never runs): victim images from an
//     allow-list (--allowed-victim-images), a cap on load.rate
//     (--max-load-rate), and a loadURL that names a Service of the
//     Experiment's own namespace (LoadService, ResolveLoadService).
//
// Serving certificates for the webhook are rotated by
// github.com/open-policy-agent/cert-controller (SetupCertRotation), or come
// from elsewhere (cert-manager, envtest) in a directory.
package admission
