//go:build tools

// Package deps pins the project's module dependencies while the code that
// imports them is being written. It is never built.
package deps

import (
	_ "github.com/Shopify/toxiproxy/v2"
	_ "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/common/expfmt"
	_ "github.com/rs/zerolog"
	_ "github.com/tsenart/vegeta/v12/lib"
	_ "go.uber.org/goleak"
	_ "golang.org/x/term"
	_ "gonum.org/v1/plot"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/client-go/kubernetes"
	_ "modernc.org/sqlite"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/yaml"
)
