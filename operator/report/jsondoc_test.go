package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/internal/reportschema"
	"github.com/cascadelab/cascadelab/operator/victimlog"
	"github.com/cascadelab/cascadelab/victim/events"
)

// withRaces adds a reconstructed double charge and a crash context.
func withRaces(r *Report) *Report {
	e := func(p, name, rid string, ts int64) victimlog.Record {
		return victimlog.Record{Process: p, Event: events.Event{TS: ts, Seq: 1, Event: name, Role: "orders", Replica: p, RequestID: rid, OrderID: "o1", Status: "PAID"}}
	}
	r.Races = []victimlog.Chain{{OrderID: "o1", Window: victimlog.WindowCheckThenAct, Explanation: "both passed", Requests: []string{"a", "b"},
		Events: []victimlog.Record{e("orders-0", events.ChargeAttempt, "a", 1_790_000_000_000_000), e("orders-1", events.ChargeAttempt, "b", 1_790_000_000_000_900), {Process: "orders-1", Raw: "not json"}}}}
	r.Crashes = []victimlog.CrashContext{{Process: "orders-1", TS: 1_790_000_001_000_000, Headline: "fatal error: concurrent map writes",
		Before: []victimlog.Record{e("orders-1", events.CacheSet, "b", 1_790_000_000_900_000)}}}
	return r
}

// TestJSONDocument: report.json is versioned, every offset is a number of
// seconds, and it matches the published schema.
func TestJSONDocument(t *testing.T) {
	for _, r := range []*Report{withRaces(cascade()), fixed(), inconclusive()} {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		if err := reportschema.Validate(buf.Bytes()); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
		var doc struct {
			APIVersion string  `json:"apiVersion"`
			Kind       string  `json:"kind"`
			Elapsed    float64 `json:"elapsed"`
			Findings   []struct {
				At    float64 `json:"at"`
				Cause *struct {
					After float64 `json:"after"`
				} `json:"cause"`
			} `json:"findings"`
			Faults []struct {
				InjectedAt *float64 `json:"injectedAt"`
			} `json:"faults"`
			Timeline []struct {
				At float64 `json:"at"`
			} `json:"timeline"`
		}
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("%s: offsets are not all numbers: %v", r.Name, err)
		}
		if doc.APIVersion != APIVersion || doc.Kind != Kind {
			t.Errorf("%s: apiVersion %q kind %q", r.Name, doc.APIVersion, doc.Kind)
		}
		if r.Name == "map-panic-cascade" {
			if doc.Elapsed != 60 || doc.Findings[0].At != 12.3 || doc.Findings[0].Cause.After != 2.3 ||
				*doc.Faults[0].InjectedAt != 10 || doc.Timeline[1].At != 12.3 {
				t.Errorf("offsets in seconds: elapsed %v, finding %v after %v, fault %v, timeline %v",
					doc.Elapsed, doc.Findings[0].At, doc.Findings[0].Cause.After, *doc.Faults[0].InjectedAt, doc.Timeline[1].At)
			}
		}
	}
}

// TestJSONDocumentSchemaCatchesDrift: the schema is strict enough to fail.
func TestJSONDocumentSchemaCatchesDrift(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, cascade()); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"duration string":  {`"elapsed": 60`, `"elapsed": "60s"`},
		"unknown verdict":  {`"HypothesisViolated"`, `"Broken"`},
		"unknown top key":  {`"backend"`, `"backendz"`},
		"no apiVersion":    {`"apiVersion"`, `"apiVersionx"`},
		"finding sans msg": {`"message": "fatal error: concurrent map writes"`, `"msg": "x"`},
	} {
		bad := strings.Replace(buf.String(), edit[0], edit[1], 1)
		if bad == buf.String() {
			t.Fatalf("%s: %q not found in the report", name, edit[0])
		}
		if reportschema.Validate([]byte(bad)) == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}

// TestReadPreviousFormat: a report.json of the unversioned format (integer
// nanoseconds and duration strings) still reads; another apiVersion is
// refused by name.
func TestReadPreviousFormat(t *testing.T) {
	r := cascade()
	old, err := json.Marshal(plain(*r))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(old, []byte(`"elapsed":60000000000`)) || !bytes.Contains(old, []byte(`"at":"12.3s"`)) {
		t.Fatalf("the fixture is not the previous format: %.200s", old)
	}
	got, err := ReadJSON(bytes.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("previous format read differs")
	}
	_, err = ReadJSON(strings.NewReader(`{"apiVersion": "cascadelab.dev/v2", "kind": "Report", "name": "x", "verdict": "Inconclusive"}`))
	if err == nil || !strings.Contains(err.Error(), "cascadelab.dev/v2") || !strings.Contains(err.Error(), APIVersion) {
		t.Errorf("another apiVersion: err = %v, want it named with the one this reads", err)
	}
}

// TestMarkdownRaces: report.md shows each double charge's events in time
// order with their names and gaps, and each crash's last events.
func TestMarkdownRaces(t *testing.T) {
	r := withRaces(cascade())
	r.StartedAt = time.UnixMicro(1_790_000_000_000_000 - 2_000_000)
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	md := strings.ReplaceAll(buf.String(), `\_`, "_")
	for _, want := range []string{"## The race, reconstructed", "Order o1 charged twice (a and b) — check-then-act",
		"| +0 | — | orders-0 | charge_attempt | a |", "| +900 | +900 | orders-1 | charge_attempt | b |",
		"(not an event)", "not json", "## Last events before each crash", "orders-1 at 3s: fatal error: concurrent map writes",
		"| order_cache_set | b |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Index(md, "charge_attempt | a") > strings.Index(md, "charge_attempt | b") {
		t.Error("events out of time order")
	}
}
