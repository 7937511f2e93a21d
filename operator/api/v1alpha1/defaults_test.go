package v1alpha1_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// TestSetDefaults checks the local defaults on a minimal experiment; the
// envtest suite checks that the API server applies the same ones.
func TestSetDefaults(t *testing.T) {
	exps, err := v1alpha1.Load([]byte("apiVersion: cascadelab.dev/v1alpha1\nkind: Experiment\nmetadata: {name: m}\nspec: {victim: {}, duration: 30s, abort: {errorRatioAbove: \"0.5\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := &exps[0]
	e.Default()
	s := e.Spec
	if s.SteadyState.Duration != 10*time.Second || s.Victim.Orders.Replicas != 2 || s.Victim.Orders.Cache != v1alpha1.CacheRacy ||
		s.Victim.Ledger.Idempotency != v1alpha1.IdempotencyNone || s.Victim.Gateway.Mode != v1alpha1.GatewayLeaky ||
		s.Victim.Gateway.Timeout.Duration != 500*time.Millisecond || *s.Victim.Gateway.Retries != 2 ||
		s.Load.Rate != 100 || s.Load.DuplicateRatio != "0.1" || s.Hypothesis.MaxErrorRatio != "0.01" ||
		s.Hypothesis.MaxGoroutineGrowth != "2.0" || *s.Hypothesis.MaxDuplicateCharges != 0 ||
		*s.Hypothesis.MaxLeakedGoroutines != 0 || *s.Hypothesis.MaxRestarts != 0 || s.Abort.For.Duration != 10*time.Second {
		t.Errorf("unexpected defaults: %+v", s)
	}
	if errs := v1alpha1.Validate(e); len(errs) > 0 {
		t.Errorf("defaulted minimal experiment invalid: %v", errs)
	}
}

// TestLoadMultiDocumentAndJSON checks that several documents (YAML or JSON)
// load in order and that errors name the document.
func TestLoadMultiDocumentAndJSON(t *testing.T) {
	doc := "apiVersion: cascadelab.dev/v1alpha1\nkind: Experiment\nmetadata: {name: a}\nspec: {victim: {}, duration: 30s}\n"
	js := `{"apiVersion":"cascadelab.dev/v1alpha1","kind":"Experiment","metadata":{"name":"b"},"spec":{"victim":{},"duration":"1m"}}`
	exps, err := v1alpha1.Load([]byte("# two\n---\n" + doc + "---\n" + js + "\n---\n"))
	if err != nil || len(exps) != 2 || exps[0].Name != "a" || exps[1].Name != "b" || exps[1].Spec.Duration.Duration != time.Minute {
		t.Fatalf("got %d experiments, %v", len(exps), err)
	}
	_, err = v1alpha1.Load([]byte(doc + "---\n" + strings.Replace(doc, "30s", "30 s", 1)))
	if err == nil || !strings.Contains(err.Error(), "document 2") || !strings.Contains(err.Error(), "spec.duration") {
		t.Errorf("error %v should name document 2 and spec.duration", err)
	}
}

// TestDuplicateAfter checks spec.load.duplicateAfter: 0s by default, kept
// as given, and anything negative, over 1h or not a Go duration refused
// with the field's path, by Load (the file's text) or Validate (a spec
// built in Go).
func TestDuplicateAfter(t *testing.T) {
	doc := func(after string) []byte {
		return []byte("apiVersion: cascadelab.dev/v1alpha1\nkind: Experiment\nmetadata: {name: d}\nspec: {victim: {}, duration: 30s, load: {duplicateAfter: " + after + "}}\n")
	}
	exps, err := v1alpha1.Load([]byte("apiVersion: cascadelab.dev/v1alpha1\nkind: Experiment\nmetadata: {name: d}\nspec: {victim: {}, duration: 30s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	exps[0].Default()
	if d := exps[0].Spec.Load.DuplicateAfter.Duration; d != 0 {
		t.Errorf("default duplicateAfter %s, want 0s", d)
	}
	if args := exps[0].Spec.Load.DuplicateAfterArgs(); len(args) != 0 {
		t.Errorf("DuplicateAfterArgs at 0s = %q, want none", args)
	}
	for _, ok := range []string{"0s", "300ms", "1.5s", "1h"} {
		exps, err := v1alpha1.Load(doc(ok))
		if err != nil {
			t.Errorf("duplicateAfter %s: %v", ok, err)
			continue
		}
		exps[0].Default()
		if errs := v1alpha1.Validate(&exps[0]); len(errs) > 0 {
			t.Errorf("duplicateAfter %s: %v", ok, errs)
		}
	}
	exps, err = v1alpha1.Load(doc("300ms"))
	if err != nil {
		t.Fatal(err)
	}
	if got := exps[0].Spec.Load.DuplicateAfterArgs(); len(got) != 1 || got[0] != "--duplicate-after=300ms" {
		t.Errorf("DuplicateAfterArgs = %q, want [--duplicate-after=300ms]", got)
	}
	for _, bad := range []string{"-1s", "banana", "300", "1.5", `""`, "1h1ns"} {
		_, err := v1alpha1.Load(doc(bad))
		msg := ""
		if err != nil {
			msg = err.Error()
		} else {
			exps, _ := v1alpha1.Load(doc(bad))
			exps[0].Default()
			msg = v1alpha1.Validate(&exps[0]).ToAggregate().Error()
		}
		if !strings.Contains(msg, "spec.load.duplicateAfter") {
			t.Errorf("duplicateAfter %s: %q, want an error naming spec.load.duplicateAfter", bad, msg)
		}
	}
	for _, bad := range []time.Duration{-time.Second, time.Hour + time.Nanosecond} {
		exps, err := v1alpha1.Load(doc("1s"))
		if err != nil {
			t.Fatal(err)
		}
		exps[0].Default()
		exps[0].Spec.Load.DuplicateAfter.Duration = bad
		errs := v1alpha1.Validate(&exps[0])
		if len(errs) != 1 || errs[0].Field != "spec.load.duplicateAfter" || !strings.Contains(errs[0].Error(), `Invalid value: "`+bad.String()+`": must be at least 0s and at most 1h`) {
			t.Errorf("duplicateAfter %s: %v, want one error on spec.load.duplicateAfter", bad, errs)
		}
	}
}
