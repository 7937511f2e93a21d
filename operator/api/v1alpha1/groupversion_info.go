// Package v1alpha1 holds the cascadelab.dev/v1alpha1 API: the Experiment
// resource that describes one chaos drill against the victim payment service
// (or existing pods), its hypothesis, its faults and what was found.
//
// The same YAML is read by the local runner (cascadelab run) and applied to a
// cluster for the operator.
//
// +kubebuilder:object:generate=true
// +groupName=cascadelab.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "cascadelab.dev", Version: "v1alpha1"}

	// SchemeBuilder registers this API's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this API's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
