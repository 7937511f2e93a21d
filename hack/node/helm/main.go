// Command helm renders a Helm chart offline with helm's Go SDK, as
// `helm template` would: client-only, no cluster, no repository.
//
//	go run . -chart DIR -name RELEASE -namespace NS [-f VALUES]… [-kube-version v1.37.2]
//
// The node lab renders Chaos Mesh's chart from the pinned Chaos Mesh module
// (go mod download -json … prints its Dir) with manifests/chaos-mesh's values
// and hack/node's overlay, then applies the output with kubectl. The chart's
// crds/ are not rendered (helm template leaves them out by default too): the
// lab applies the CRDs generated from the pinned api module instead
// (bin/chaos-mesh/crd, make chaos-mesh-assets).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(s string) error { *f = append(*f, s); return nil }

func main() {
	var valueFiles, sets files
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "", "release name")
	ns := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.37.2", "Kubernetes version for .Capabilities")
	flag.Var(&valueFiles, "f", "values file (repeatable, later wins)")
	flag.Var(&sets, "set", "key=value (repeatable)")
	flag.Parse()
	if *chartDir == "" || *name == "" {
		log.Fatal("usage: helm -chart DIR -name RELEASE [-namespace NS] [-f VALUES]… [-set k=v]…")
	}
	ch, err := loader.Load(*chartDir)
	if err != nil {
		log.Fatal(err)
	}
	opts := values.Options{ValueFiles: valueFiles, Values: sets}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		log.Fatal(err)
	}
	kv, err := chartutil.ParseKubeVersion(*kubeVersion)
	if err != nil {
		log.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = *name, *ns
	install.KubeVersion = kv
	install.IncludeCRDs = false
	install.DisableHooks = false
	rel, err := install.Run(ch, vals)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(rel.Manifest)
	for _, h := range rel.Hooks {
		fmt.Printf("---\n# Source: %s (hook)\n%s\n", h.Path, h.Manifest)
	}
	os.Exit(0)
}
