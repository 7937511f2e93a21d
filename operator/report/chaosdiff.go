package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"time"
)

// LikeForLike is the line `cascadelab compare` and the comparison pages
// give when ChaosDifferences finds no difference between two reports.
const LikeForLike = "like for like: same faults, load, timing and hypothesis; only the victim differs"

// NotLikeForLike heads the list of ChaosDifferences when there is one.
const NotLikeForLike = "not like for like:"

// ChaosDifferences lists every way the chaos and the conditions of two
// drills differ, a's side first: the faults (matched by name), the load,
// duration, steadyState, steadyStateGate, hypothesis, abort guard and any
// other field of the experiment's spec, including fields added to the API
// later. spec.victim and spec.target are left out: they are what an A/B
// varies.
//
// Each difference is one line naming the field by its path in the spec and
// giving both values, e.g.
//
//	faults[slow-ledger].networkChaos.delay.latency: 600ms vs 200ms
//	load.rate: 80 vs 200
//	abort: {"errorRatioAbove":"0.95","for":"10s"} vs unset
//	faults[kill-one-orders]: only in A
//
// The specs are compared through their JSON form, normalised: null, "",
// empty objects and empty lists count as unset; two strings that are the
// same decimal ("0.1", "0.10") or the same Go duration ("1m", "60s") are
// equal. The list is sorted, and nil when the two drills ran like for like.
// A nil report counts as one with an empty spec.
func ChaosDifferences(a, b *Report) []string {
	sa, sb := chaosSpec(a), chaosSpec(b)
	fa, fb := faultsByName(sa["faults"]), faultsByName(sb["faults"])
	delete(sa, "faults")
	delete(sb, "faults")
	var d differ
	names := map[string]bool{}
	for n := range fa {
		names[n] = true
	}
	for n := range fb {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		path := "faults[" + n + "]"
		x, inA := fa[n]
		y, inB := fb[n]
		switch {
		case !inB:
			d.out = append(d.out, path+": only in A")
		case !inA:
			d.out = append(d.out, path+": only in B")
		default:
			d.diff(path, x, y)
		}
	}
	d.diff("", sa, sb)
	sort.Strings(d.out)
	return d.out
}

// chaosSpec is r's spec as normalised JSON, without victim and target.
func chaosSpec(r *Report) map[string]any {
	m := map[string]any{}
	if r == nil {
		return m
	}
	b, err := json.Marshal(r.Spec)
	if err != nil {
		return map[string]any{"spec": "unreadable: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return map[string]any{"spec": "unreadable: " + err.Error()}
	}
	if p, ok := prune(v).(map[string]any); ok {
		m = p
	}
	delete(m, "victim")
	delete(m, "target")
	return m
}

// faultsByName keys the faults by name, each without its name. A nameless
// fault is keyed by its index, a repeated name by name#2, name#3, ….
func faultsByName(v any) map[string]any {
	list, _ := v.([]any)
	out := map[string]any{}
	for i, f := range list {
		m, _ := f.(map[string]any)
		name, _ := m["name"].(string)
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		key := name
		for n := 2; out[key] != nil; n++ {
			key = fmt.Sprintf("%s#%d", name, n)
		}
		rest := map[string]any{}
		for k, x := range m {
			if k != "name" {
				rest[k] = x
			}
		}
		out[key] = rest
	}
	return out
}

// prune drops nulls, empty strings, empty objects and empty lists, so that
// an unset field and a zero one compare equal.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if x = prune(x); x != nil {
				out[k] = x
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(v) == 0 {
			return nil
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = prune(x)
		}
		return out
	case string:
		if v == "" {
			return nil
		}
	}
	return v
}

// differ collects the differences of two normalised JSON values.
type differ struct{ out []string }

func (d *differ) diff(path string, x, y any) {
	if same(x, y) {
		return
	}
	if mx, ok := x.(map[string]any); ok {
		if my, ok := y.(map[string]any); ok {
			keys := map[string]bool{}
			for k := range mx {
				keys[k] = true
			}
			for k := range my {
				keys[k] = true
			}
			for _, k := range sortedKeys(keys) {
				d.diff(field(path, k), mx[k], my[k])
			}
			return
		}
	}
	if lx, ok := x.([]any); ok {
		if ly, ok := y.([]any); ok && len(lx) == len(ly) {
			for i := range lx {
				d.diff(fmt.Sprintf("%s[%d]", path, i), lx[i], ly[i])
			}
			return
		}
	}
	if path == "" {
		path = "spec"
	}
	sx, sy := show(x), show(y)
	if sx == sy {
		// Different values that read the same bare (the string "unset"
		// against an unset field, "true" against true): quote strings.
		sx, sy = showQuoted(x), showQuoted(y)
		if sx == sy {
			sx, sy = fmt.Sprintf("%s (%T)", sx, x), fmt.Sprintf("%s (%T)", sy, y)
		}
	}
	d.out = append(d.out, fmt.Sprintf("%s: %s vs %s", path, sx, sy))
}

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// field is the path of key k under path: path.k, or path["k"] for a key
// such as a label name.
func field(path, k string) string {
	if !ident.MatchString(k) {
		return fmt.Sprintf("%s[%q]", path, k)
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// same says whether two normalised JSON values mean the same.
func same(x, y any) bool {
	switch x := x.(type) {
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !same(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !same(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return canonical(x) == canonical(y)
}

var decimal = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// canonical is a leaf's value in a form where equal meanings are equal:
// decimals (numbers and decimal strings) as exact fractions, Go durations
// in nanoseconds.
func canonical(v any) string {
	switch v := v.(type) {
	case nil:
		return "unset"
	case json.Number:
		if r, ok := new(big.Rat).SetString(v.String()); ok {
			return "n:" + r.RatString()
		}
		return "n:" + v.String()
	case string:
		if decimal.MatchString(v) {
			if r, ok := new(big.Rat).SetString(v); ok {
				return "n:" + r.RatString()
			}
		}
		if d, err := time.ParseDuration(v); err == nil {
			return fmt.Sprintf("d:%d", d)
		}
		return "s:" + v
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// show writes a value for a difference line: strings bare, unset as
// "unset", anything else as compact JSON.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "unset"
	case string:
		return v
	case json.Number:
		return v.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// showQuoted is show with strings in JSON quotes, for two values that show
// the same bare.
func showQuoted(v any) string {
	if v == nil {
		return "unset"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}
