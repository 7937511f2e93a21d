package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/local"
)

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "Usage: cascadelab validate FILE...") }
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "cascadelab validate: no experiment file given")
		return exitInvalid
	}
	exps, ok := loadAndValidate(files, stderr)
	if !ok {
		return exitInvalid
	}
	for _, e := range exps {
		fmt.Fprintf(stdout, "%s: valid\n", e.Name)
	}
	return exitOK
}

// loadAndValidate reads every file and checks each experiment against the
// API's rules and the local backend's limits. It prints every problem with
// its file and field path and reports whether all were valid.
func loadAndValidate(files []string, stderr io.Writer) ([]v1alpha1.Experiment, bool) {
	var all []v1alpha1.Experiment
	ok := true
	for _, file := range files {
		exps, err := v1alpha1.LoadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", file, err)
			ok = false
			continue
		}
		for i := range exps {
			e := &exps[i]
			v1alpha1.SetDefaults(&e.Spec)
			errs := v1alpha1.Validate(e)
			errs = append(errs, local.CheckSupported(e.Spec)...)
			for _, fe := range errs {
				fmt.Fprintf(stderr, "%s: %s: %s\n", file, e.Name, fe.Error())
			}
			if len(errs) > 0 {
				ok = false
				continue
			}
			all = append(all, *e)
		}
	}
	return all, ok
}
