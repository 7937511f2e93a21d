package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// APIVersion and Kind identify a report.json document. Every time offset
// in it (elapsed, findings[].at, findings[].cause.after, faults[].injectedAt,
// faults[].recoveredAt, timeline[].at, series[].at) is a JSON number of
// seconds since the load started; its JSON Schema is docs/report.schema.json.
// Victim events (races[].events[].ts, crashes[].ts) keep the victim's own
// wall-clock microseconds since the Unix epoch.
const (
	APIVersion = "cascadelab.dev/v1alpha1"
	Kind       = "Report"
)

// plain is Report without its JSON methods.
type plain Report

// offset paths: where a time offset sits in the document, and how the Go
// types encode it without this conversion (integer nanoseconds, or a Go
// duration string for metav1.Duration).
var offsets = []struct {
	path []string // "[]" steps into every element of an array
	ns   bool     // integer nanoseconds (else a duration string)
}{
	{[]string{"elapsed"}, true},
	{[]string{"timeline", "[]", "at"}, true},
	{[]string{"series", "[]", "at"}, true},
	{[]string{"findings", "[]", "at"}, false},
	{[]string{"findings", "[]", "cause", "after"}, false},
	{[]string{"faults", "[]", "injectedAt"}, false},
	{[]string{"faults", "[]", "recoveredAt"}, false},
}

// MarshalJSON writes the versioned report.json document.
func (r Report) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	m, err := decodeMap(b)
	if err != nil {
		return nil, err
	}
	for _, o := range offsets {
		if err := walk(m, o.path, func(v any) (any, error) { return toSeconds(v, o.ns) }); err != nil {
			return nil, err
		}
	}
	m["apiVersion"], m["kind"] = APIVersion, Kind
	return json.Marshal(m)
}

// UnmarshalJSON reads a versioned report.json, or the unversioned format
// written before it (offsets in nanoseconds and duration strings). A
// document of another apiVersion or kind is refused by name.
func (r *Report) UnmarshalJSON(b []byte) error {
	m, err := decodeMap(b)
	if err != nil {
		return err
	}
	if v, ok := m["apiVersion"]; ok {
		if v != APIVersion || m["kind"] != Kind {
			return fmt.Errorf("apiVersion %v, kind %v: this cascadelab reads %s %s and the unversioned report.json of earlier releases", v, m["kind"], APIVersion, Kind)
		}
		delete(m, "apiVersion")
		delete(m, "kind")
		for _, o := range offsets {
			if err := walk(m, o.path, func(v any) (any, error) { return fromSeconds(v, o.ns) }); err != nil {
				return err
			}
		}
		if b, err = json.Marshal(m); err != nil {
			return err
		}
	}
	return json.Unmarshal(b, (*plain)(r))
}

func decodeMap(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("a report is a JSON object")
	}
	return m, nil
}

// walk replaces the value at path (if present) in v with f's result.
func walk(v any, path []string, f func(any) (any, error)) error {
	if len(path) == 0 {
		return nil
	}
	if path[0] == "[]" {
		arr, _ := v.([]any)
		for _, el := range arr {
			if err := walk(el, path[1:], f); err != nil {
				return err
			}
		}
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	x, ok := obj[path[0]]
	if !ok || x == nil {
		return nil
	}
	if len(path) > 1 {
		return walk(x, path[1:], f)
	}
	y, err := f(x)
	if err != nil {
		return fmt.Errorf("%s: %w", path[0], err)
	}
	obj[path[0]] = y
	return nil
}

func toSeconds(v any, ns bool) (any, error) {
	var d time.Duration
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil || !ns {
			return nil, fmt.Errorf("unexpected offset %v", x)
		}
		d = time.Duration(n)
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return nil, err
		}
		d = p
	default:
		return nil, fmt.Errorf("unexpected offset %v", v)
	}
	return d.Seconds(), nil
}

func fromSeconds(v any, ns bool) (any, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("want a number of seconds, got %v", v)
	}
	s, err := n.Float64()
	if err != nil || math.IsNaN(s) || math.Abs(s) > 1e9 {
		return nil, fmt.Errorf("want a number of seconds, got %v", v)
	}
	d := time.Duration(math.Round(s * 1e9))
	if ns {
		return int64(d), nil
	}
	return d.String(), nil
}
