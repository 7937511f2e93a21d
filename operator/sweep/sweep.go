// Package sweep runs one chaos experiment over a grid of values and maps
// where the system breaks.
//
// A sweep file (kind Sweep in cascadelab.dev/v1alpha1) names an experiment
// file, up to two axes — field paths into the experiment's spec, such as
// load.rate or faults[slow-ledger].networkChaos.delay.latency, each with the
// values to try — the number of repeats of every cell and, optionally, a
// shorter cell duration to which the experiment's schedule is scaled.
//
// LoadFile reads and validates a sweep file; NewPlan expands it against
// the experiment into cells, each a complete, validated Experiment; Execute
// runs every cell through a caller-supplied run function (the CLI's local
// drill) and aggregates the reports into a Result; WriteFiles writes
// sweep.json, sweep.csv, sweep.md and sweep.html.
package sweep

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// Kind is the kind of a sweep file.
const Kind = "Sweep"

// Limits of a sweep file.
const (
	// MaxAxes is the number of axes a sweep may have.
	MaxAxes = 2
	// MaxValues is the number of values one axis may have.
	MaxValues = 16
	// MaxRepeats caps spec.repeats.
	MaxRepeats = 20
	// MinCellDuration is the shortest spec.cellDuration.
	MinCellDuration = 5 * time.Second
)

// Sweep is a sweep file: one experiment run over a grid of values.
type Sweep struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the grid.
	Spec Spec `json:"spec"`
}

// Spec is what a sweep runs.
type Spec struct {
	// Experiment is the experiment file, relative to the sweep file or
	// absolute. It must hold exactly one experiment.
	Experiment string `json:"experiment"`
	// Axes are the dimensions of the grid, at most MaxAxes.
	Axes []Axis `json:"axes"`
	// Repeats is how many times each cell runs (default 1).
	Repeats *int32 `json:"repeats,omitempty"`
	// CellDuration is each cell's length, a Go duration string. The
	// experiment's steady state, fault offsets and fault durations are
	// scaled by CellDuration/duration. Empty keeps the experiment's length.
	CellDuration string `json:"cellDuration,omitempty"`
}

// Axis is one dimension of the grid.
type Axis struct {
	// Path is a field path into the experiment's spec: dot-separated JSON
	// field names; name[key] selects the element of a list whose name is
	// key (faults[slow-ledger]), name[N] its N-th element.
	Path string `json:"path"`
	// Values are the values the field takes, numbers or strings as the
	// field takes them, kept as their JSON text.
	Values []json.RawMessage `json:"values"`
}

// RepeatCount is spec.repeats with its default.
func (s *Sweep) RepeatCount() int {
	if s.Spec.Repeats == nil {
		return 1
	}
	return int(*s.Spec.Repeats)
}

// CellLength is spec.cellDuration parsed; 0 when unset (or invalid).
func (s *Sweep) CellLength() time.Duration {
	d, _ := time.ParseDuration(s.Spec.CellDuration)
	return d
}

// ValueText is how a value reads in tables and names: a string's text
// unquoted, a number's JSON text.
func ValueText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Error is one problem with a sweep, named by its field path.
type Error struct {
	// Path is the field path, such as spec.axes[0].path.
	Path string
	// Msg says what is wrong.
	Msg string
}

func (e Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errors is a list of problems; it is an error itself when non-empty.
type Errors []Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

func (es *Errors) add(path, format string, args ...any) {
	*es = append(*es, Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the sweep's own fields (the axes' paths are only
// checked for syntax here; NewPlan resolves them against the experiment).
func Validate(s *Sweep) Errors {
	var errs Errors
	if s.Name == "" {
		errs.add("metadata.name", "a sweep needs a name")
	} else if !dnsLabelish(s.Name) {
		errs.add("metadata.name", "%q must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 63 characters", s.Name)
	}
	if strings.TrimSpace(s.Spec.Experiment) == "" {
		errs.add("spec.experiment", "required: the experiment file to sweep")
	}
	switch n := len(s.Spec.Axes); {
	case n == 0:
		errs.add("spec.axes", "required: one or two axes")
	case n > MaxAxes:
		errs.add("spec.axes", "%d axes; a sweep has at most %d", n, MaxAxes)
	}
	seen := map[string]int{}
	for i, ax := range s.Spec.Axes {
		p := fmt.Sprintf("spec.axes[%d]", i)
		if ax.Path == "" {
			errs.add(p+".path", "required: a field path into the experiment's spec, such as load.rate")
		} else if _, err := ParsePath(ax.Path); err != nil {
			errs.add(p+".path", "%v", err)
		} else if j, dup := seen[ax.Path]; dup {
			errs.add(p+".path", "%q is already spec.axes[%d].path", ax.Path, j)
		} else {
			seen[ax.Path] = i
		}
		if ax.Path == "duration" && s.Spec.CellDuration != "" {
			errs.add(p+".path", "duration cannot be an axis when spec.cellDuration sets every cell's length")
		}
		switch n := len(ax.Values); {
		case n == 0:
			errs.add(p+".values", "required: at least one value")
		case n > MaxValues:
			errs.add(p+".values", "%d values; an axis has at most %d", n, MaxValues)
		}
		texts := map[string]int{}
		for j, v := range ax.Values {
			vp := fmt.Sprintf("%s.values[%d]", p, j)
			if !isScalar(v) {
				errs.add(vp, "must be a number or a string, not %s", string(v))
				continue
			}
			t := ValueText(v)
			if k, dup := texts[t]; dup {
				errs.add(vp, "%s repeats values[%d]", string(v), k)
			}
			texts[t] = j
		}
	}
	if r := s.Spec.Repeats; r != nil && (*r < 1 || *r > MaxRepeats) {
		errs.add("spec.repeats", "%d: must be between 1 and %d", *r, MaxRepeats)
	}
	if cd := s.Spec.CellDuration; cd != "" {
		d, err := time.ParseDuration(cd)
		switch {
		case err != nil || !durationRE.MatchString(cd):
			errs.add("spec.cellDuration", "%q is not a duration such as \"30s\" (units ms, s, m, h; no sign)", cd)
		case d < MinCellDuration || d > v1alpha1.MaxExperimentDuration:
			errs.add("spec.cellDuration", "%s: must be between %s and %s", cd, MinCellDuration, v1alpha1.MaxExperimentDuration)
		}
	}
	return errs
}

// isScalar reports whether raw is a JSON number or string.
func isScalar(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	if t == "" {
		return false
	}
	if t[0] == '"' {
		var s string
		return json.Unmarshal(raw, &s) == nil
	}
	_, err := strconv.ParseFloat(t, 64)
	return err == nil
}

func dnsLabelish(s string) bool {
	if len(s) > 63 || s == "" {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' && c != '.' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}
