package sweep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// Cell is one point of the grid: a complete experiment.
type Cell struct {
	// Index is the cell's position in Plan.Cells.
	Index int
	// Name is the cell's directory name, such as rate-200_latency-300ms.
	Name string
	// Coords is the index of the cell's value on each axis.
	Coords []int
	// Values is the cell's value on each axis, as ValueText reads it.
	Values []string
	// Experiment is the experiment the cell runs: the base one with the
	// schedule scaled and the axes' values set, defaulted and validated.
	Experiment v1alpha1.Experiment
}

// Plan is a sweep expanded into cells.
type Plan struct {
	// Sweep is the sweep file.
	Sweep *Sweep
	// Base is the experiment as loaded and defaulted, before any change.
	Base v1alpha1.Experiment
	// Cells are the grid's cells, the first axis varying slowest.
	Cells []Cell
}

// Check validates one cell's experiment beyond the API's rules, such as
// the local backend's limits; nil checks nothing more.
type Check func(*v1alpha1.Experiment) field.ErrorList

// NewPlan expands s over base, an experiment already defaulted and valid:
// it scales the schedule to spec.cellDuration, resolves every axis path in
// the experiment's spec, and builds and validates the experiment of every
// cell (v1alpha1.Load's strict decoding, SetDefaults, v1alpha1.Validate,
// then check). Problems are Errors naming the sweep's field path, such as
// spec.axes[0].path: unknown field "load.rat".
func NewPlan(s *Sweep, base v1alpha1.Experiment, check Check) (*Plan, error) {
	spec := base.Spec.DeepCopy()
	if cl := s.CellLength(); cl > 0 {
		if err := Scale(spec, cl); err != nil {
			return nil, Errors{{"spec.cellDuration", err.Error()}}
		}
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	b := builder{specJSON: specJSON, base: base, check: check}
	var errs Errors
	for i, ax := range s.Spec.Axes {
		p := fmt.Sprintf("spec.axes[%d]", i)
		if msg := b.resolve(ax); msg != "" {
			errs.add(p+".path", "%s", msg)
			continue
		}
		for j, v := range ax.Values {
			if _, msg := b.build([]Axis{ax}, []int{j}); msg != "" {
				errs.add(fmt.Sprintf("%s.values[%d]", p, j), "%s makes the experiment invalid: %s", string(v), msg)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	plan := &Plan{Sweep: s, Base: base}
	names := map[string]bool{}
	for _, coords := range grid(s.Spec.Axes) {
		exp, msg := b.build(s.Spec.Axes, coords)
		c := Cell{Index: len(plan.Cells), Coords: coords, Experiment: exp}
		for i, ax := range s.Spec.Axes {
			c.Values = append(c.Values, ValueText(ax.Values[coords[i]]))
		}
		if msg != "" {
			errs.add("spec.axes", "cell %s makes the experiment invalid: %s", describeCell(s.Spec.Axes, c.Values), msg)
			continue
		}
		c.Name = cellName(s.Spec.Axes, c.Values)
		if names[c.Name] {
			c.Name += "-" + strconv.Itoa(c.Index)
		}
		names[c.Name] = true
		plan.Cells = append(plan.Cells, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return plan, nil
}

// builder makes cell experiments from the scaled spec's JSON.
type builder struct {
	specJSON []byte
	base     v1alpha1.Experiment
	check    Check
}

// specMap decodes a fresh copy of the spec's JSON form, numbers kept as
// written.
func (b *builder) specMap() map[string]any {
	dec := json.NewDecoder(bytes.NewReader(b.specJSON))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic("sweep: re-decoding a marshalled spec: " + err.Error()) // cannot happen
	}
	return m
}

// resolve checks that ax.Path names a field of the spec; it returns the
// problem, or "".
func (b *builder) resolve(ax Axis) string {
	m := b.specMap()
	if err := SetPath(m, ax.Path, ax.Values[0]); err != nil {
		return err.Error()
	}
	js, err := json.Marshal(m)
	if err != nil {
		return err.Error()
	}
	var spec v1alpha1.ExperimentSpec
	strict, _ := sigsjson.UnmarshalStrict(js, &spec) // type errors are the value's, judged by build
	if len(strict) > 0 {
		return fmt.Sprintf("unknown field %q", ax.Path)
	}
	return ""
}

// build returns the experiment with axes[i] set to its coords[i]-th value,
// or what makes it invalid.
func (b *builder) build(axes []Axis, coords []int) (v1alpha1.Experiment, string) {
	m := b.specMap()
	for i, ax := range axes {
		if err := SetPath(m, ax.Path, ax.Values[coords[i]]); err != nil {
			return v1alpha1.Experiment{}, err.Error()
		}
	}
	meta := map[string]any{"name": b.base.Name}
	if b.base.Namespace != "" {
		meta["namespace"] = b.base.Namespace
	}
	doc, err := json.Marshal(map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       v1alpha1.Kind,
		"metadata":   meta,
		"spec":       m,
	})
	if err != nil {
		return v1alpha1.Experiment{}, err.Error()
	}
	exps, err := v1alpha1.Load(doc)
	if err != nil {
		return v1alpha1.Experiment{}, strings.TrimPrefix(err.Error(), "document 1: ")
	}
	exp := exps[0]
	v1alpha1.SetDefaults(&exp.Spec)
	fes := v1alpha1.Validate(&exp)
	if b.check != nil {
		fes = append(fes, b.check(&exp)...)
	}
	if len(fes) > 0 {
		msgs := make([]string, len(fes))
		for i, fe := range fes {
			msgs[i] = fe.Error()
		}
		return v1alpha1.Experiment{}, strings.Join(msgs, "; ")
	}
	return exp, ""
}

// grid lists every combination of value indices, the first axis slowest.
func grid(axes []Axis) [][]int {
	out := [][]int{{}}
	for _, ax := range axes {
		var next [][]int
		for _, prefix := range out {
			for j := range ax.Values {
				next = append(next, append(append([]int(nil), prefix...), j))
			}
		}
		out = next
	}
	return out
}

// AxisLabel is the short name of an axis: its last field name, such as
// rate for load.rate.
func AxisLabel(path string) string {
	return path[strings.LastIndex(path, ".")+1:]
}

func cellName(axes []Axis, values []string) string {
	parts := make([]string, len(axes))
	for i, ax := range axes {
		label := AxisLabel(ax.Path)
		if len(axes) == 2 && AxisLabel(axes[0].Path) == AxisLabel(axes[1].Path) {
			label = ax.Path
		}
		parts[i] = sanitize(label) + "-" + sanitize(values[i])
	}
	return strings.Join(parts, "_")
}

func describeCell(axes []Axis, values []string) string {
	parts := make([]string, len(axes))
	for i, ax := range axes {
		parts[i] = ax.Path + "=" + values[i]
	}
	return strings.Join(parts, ", ")
}

// sanitize keeps letters, digits, '.' and '-' of s; the rest become '-'.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
