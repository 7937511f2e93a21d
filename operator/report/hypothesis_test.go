package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/internal/reportschema"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
)

// TestHypothesisRowsRendered: the engine's rows reach report.json as
// hypothesis[] (schema-valid) and report.md, where a row the drill could not
// judge reads "not judged: why", never "✓ held" — even when the verdict
// alone would not say so.
func TestHypothesisRowsRendered(t *testing.T) {
	r := fixed()
	r.Verdict = v1alpha1.VerdictInconclusive
	why := "no goleak figure of a victim process in the whole drill"
	r.Hypothesis = []v1alpha1.HypothesisRow{
		{Name: engine.RowMaxErrorRatio, Bound: "0.01", Observed: "peak 0.0040", Result: v1alpha1.RowHeld, Why: "judged"},
		{Name: engine.RowMaxGoroutineGrowth, Bound: "2×", Observed: "90.00×", Result: v1alpha1.RowNotJudged, Why: "no sample 6s after the last fault was over"},
		{Name: engine.RowMaxLeakedGoroutines, Bound: "0", Observed: "0", Result: v1alpha1.RowNotJudged, Why: why},
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"not judged: " + why, "not judged: no sample 6s after the last fault was over", "✓ held"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, line := range strings.Split(md.String(), "\n") {
		if strings.Contains(line, "Goroutine growth") && strings.Contains(line, "held") {
			t.Errorf("a row not judged reads held: %s", line)
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	if err := reportschema.Validate(js.Bytes()); err != nil {
		t.Errorf("schema: %v", err)
	}
	var doc struct {
		Hypothesis []struct{ Name, Result, Why string } `json:"hypothesis"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Hypothesis) != 3 || doc.Hypothesis[2].Result != "notJudged" || doc.Hypothesis[2].Why != why {
		t.Errorf("report.json hypothesis %+v", doc.Hypothesis)
	}
	back, err := ReadJSON(&js)
	if err != nil || len(back.Hypothesis) != 3 {
		t.Errorf("read back: %v, %+v", err, back)
	}
}
