// Command coredns is CoreDNS v1.15.0 (github.com/coredns/coredns) built with a
// reduced plugin set for the node lab: the kubernetes plugin serves
// cluster.local, and there is deliberately no forward plugin, so queries for
// names outside the cluster are never sent off the machine.
//
// CoreDNS supports this directly: a main package that sets
// dnsserver.Directives and imports the plugins it lists, then calls
// coremain.Run (the order of Directives is the order plugins run in; it is
// CoreDNS's own order from core/dnsserver/zdirectives.go, filtered).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/whoami"
)

func init() {
	dnsserver.Directives = []string{
		"reload",
		"ready",
		"health",
		"prometheus",
		"errors",
		"log",
		"loadbalance",
		"cache",
		"template",
		"kubernetes",
		"loop",
		"whoami",
	}
}

func main() {
	coremain.Run()
}
