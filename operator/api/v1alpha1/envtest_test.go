package v1alpha1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// createRaw posts a YAML document to the API server the way kubectl does
// (strict field validation, the server parses the YAML) and returns the
// server's message when it refuses it.
func createRaw(t *testing.T, cfg *rest.Config, ns string, body []byte) (created bool, msg string) {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("%s/apis/%s/namespaces/%s/experiments?fieldValidation=Strict", strings.TrimSuffix(cfg.Host, "/"), v1alpha1.GroupVersion, ns)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusCreated {
		return true, ""
	}
	var st metav1.Status
	if json.Unmarshal(out, &st) == nil && st.Message != "" {
		return false, st.Message
	}
	return false, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, out)
}

// TestAPIServer runs the drills and the bad-input corpus through a real
// kube-apiserver with the generated CRD installed.
func TestAPIServer(t *testing.T) {
	cfg, c := testenv.Start(t)
	ctx := context.Background()

	t.Run("drills accepted with the same defaults as SetDefaults", func(t *testing.T) {
		for _, f := range goodFiles(t) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			exps, err := v1alpha1.Load(data)
			if err != nil || len(exps) != 1 {
				t.Fatalf("%s: %v", f, err)
			}
			local := exps[0]
			local.Default()
			if ok, msg := createRaw(t, cfg, "default", data); !ok {
				t.Errorf("%s: refused by the API server: %s", f, msg)
				continue
			}
			var got v1alpha1.Experiment
			if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: local.Name}, &got); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got.Spec, local.Spec) {
				g, _ := json.Marshal(got.Spec)
				l, _ := json.Marshal(local.Spec)
				t.Errorf("%s: server defaults differ from SetDefaults:\nserver: %s\nlocal:  %s", f, g, l)
			}
			if err := c.Delete(ctx, &got); err != nil {
				t.Error(err)
			}
		}
	})

	// A drill that changed while it ran would inject one fault and judge
	// another (f214de6 let a reorder inject the wrong fault, and a removal
	// panic the reconciler): the server refuses any change of spec.
	t.Run("spec immutable", func(t *testing.T) {
		data, err := os.ReadFile(goodFiles(t)[0])
		if err != nil {
			t.Fatal(err)
		}
		exps, err := v1alpha1.Load(data)
		if err != nil {
			t.Fatal(err)
		}
		if ok, msg := createRaw(t, cfg, "default", data); !ok {
			t.Fatalf("refused: %s", msg)
		}
		var got v1alpha1.Experiment
		key := client.ObjectKey{Namespace: "default", Name: exps[0].Name}
		if err := c.Get(ctx, key, &got); err != nil {
			t.Fatal(err)
		}
		defer c.Delete(ctx, &got)
		got.Spec.Load.Rate++
		err = c.Update(ctx, &got)
		if err == nil || !strings.Contains(err.Error(), "spec is immutable") {
			t.Errorf("spec change: %v, want a rejection saying spec is immutable", err)
		}
		// Metadata (a finalizer, a label) may still change, by a patch as
		// kubectl label and the manager make it. (An Update from a typed
		// client re-encodes the spec's durations, "60s" as "1m0s", which the
		// rule sees as a change: the manager patches.)
		if err := c.Get(ctx, key, &got); err != nil {
			t.Fatal(err)
		}
		base := got.DeepCopy()
		got.Labels = map[string]string{"team": "sre"}
		if err := c.Patch(ctx, &got, client.MergeFrom(base)); err != nil {
			t.Errorf("label change refused: %v", err)
		}
	})

	t.Run("bad corpus rejected", func(t *testing.T) {
		var reached, rejected int
		for _, bc := range loadCorpus(t) {
			if bc.serverSkip {
				continue
			}
			reached++
			ok, msg := createRaw(t, cfg, "default", bc.data)
			if ok {
				t.Errorf("%s: accepted by the API server; want a rejection naming %q", bc.name, bc.wantServer)
				_ = c.DeleteAllOf(ctx, &v1alpha1.Experiment{}, client.InNamespace("default"))
				continue
			}
			rejected++
			if testing.Verbose() {
				t.Logf("%s: %s", bc.name, msg)
			}
			if !strings.Contains(msg, bc.wantServer) {
				t.Errorf("%s: API server message %q does not mention %q", bc.name, msg, bc.wantServer)
			}
		}
		t.Logf("corpus: %d files reach the API server, %d rejected by it", reached, rejected)
	})
}
