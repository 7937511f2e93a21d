// Command victim is cascadelab's deliberately racy payment service. Run
// "victim --help" for its roles and flags. (cascadelab's own "victim"
// subcommand runs the same code.)
package main

import (
	"os"

	"github.com/cascadelab/cascadelab/victim"
)

func main() { os.Exit(victim.Main(os.Args[1:], os.Stdout, os.Stderr)) }
