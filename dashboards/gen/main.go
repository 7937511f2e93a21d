// Command gen writes the Cascade drill dashboard JSON to dashboards.Files.
// Run it with `go generate ./dashboards` (or `make dashboards`) from anywhere
// in the repository.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cascadelab/cascadelab/dashboards"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards/gen:", err)
		os.Exit(1)
	}
}

func run() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	data, err := dashboards.CascadeDrillJSON()
	if err != nil {
		return err
	}
	for _, f := range dashboards.Files {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", f)
	}
	return nil
}
