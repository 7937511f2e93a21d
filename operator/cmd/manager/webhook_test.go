package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/operator/admission"
)

func parse(t *testing.T, args ...string) (*securityFlags, error) {
	t.Helper()
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var f securityFlags
	f.register(fs)
	return &f, fs.Parse(args)
}

func TestSecurityFlagDefaults(t *testing.T) {
	f, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if !f.enableWebhook || !f.checkCreatorRights || !f.certRotation || f.maxLoadRate != 1000 {
		t.Errorf("defaults %+v: want the webhook on, the creator's rights checked, certificates rotated, --max-load-rate 1000", f)
	}
	p, err := f.policy("registry.local:5000/cascadelab/victim:dev")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.AllowedImages(); len(got) != 1 || got[0] != "registry.local:5000/cascadelab/victim" {
		t.Errorf("default allowed images %v, want the --victim-image repository", got)
	}
	if !admission.ImageAllowed("registry.local:5000/cascadelab/victim:v2", p.AllowedImages()) ||
		admission.ImageAllowed("docker.io/cascadelab/victim:dev", p.AllowedImages()) {
		t.Error("the default pattern allows the wrong images")
	}
}

func TestSecurityFlags(t *testing.T) {
	f, err := parse(t, "--allowed-victim-images=ghcr.io/a/*, ghcr.io/b/victim", "--allowed-victim-images=quay.io/c/victim:v1.*",
		"--max-load-rate=200", "--webhook-check-creator-rights=false")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.policy("ghcr.io/cascadelab/victim:latest")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.AllowedImages(), ","); got != "ghcr.io/a/*,ghcr.io/b/victim,quay.io/c/victim:v1.*" {
		t.Errorf("allowed images %s", got)
	}
	if p.MaxLoadRate() != 200 || f.checkCreatorRights {
		t.Errorf("max load rate %d, check rights %v", p.MaxLoadRate(), f.checkCreatorRights)
	}
	if _, err := parse(t, "--allowed-victim-images=ghcr.io/["); err == nil {
		t.Error("a malformed image pattern was accepted")
	}
	f, _ = parse(t, "--max-load-rate=-5")
	if _, err := f.policy("x"); err == nil {
		t.Error("a negative --max-load-rate was accepted")
	}
}
