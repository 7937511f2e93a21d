package sweep

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Segment is one step of a field path: a JSON field name and, for a list,
// the element selected by name or index.
type Segment struct {
	// Field is the JSON field name.
	Field string
	// Key selects the element of a list whose "name" is Key; empty when
	// the segment is not a list element or Index is used.
	Key string
	// Index selects the list element by position; -1 when unused.
	Index int
}

var segmentRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)(?:\[([a-z0-9]([-a-z0-9]*[a-z0-9])?)\])?$`)

// ParsePath splits a field path such as
// faults[slow-ledger].networkChaos.delay.latency into segments. A bracket
// of digits only is an index; any other is a name. The last segment must
// be a field, not a list element.
func ParsePath(path string) ([]Segment, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	if strings.HasPrefix(path, "spec.") {
		return nil, fmt.Errorf("%q: paths are relative to the experiment's spec; drop the \"spec.\"", path)
	}
	parts := strings.Split(path, ".")
	segs := make([]Segment, 0, len(parts))
	for i, p := range parts {
		m := segmentRE.FindStringSubmatch(p)
		if m == nil {
			return nil, fmt.Errorf("%q: segment %d (%q) is not a field name, optionally with [name] or [index]", path, i+1, p)
		}
		s := Segment{Field: m[1], Index: -1}
		if sel := m[2]; sel != "" {
			if n, err := strconv.Atoi(sel); err == nil {
				s.Index = n
			} else {
				s.Key = sel
			}
		}
		segs = append(segs, s)
	}
	if last := segs[len(segs)-1]; last.Key != "" || last.Index >= 0 {
		return nil, fmt.Errorf("%q ends at a list element; name one of its fields", path)
	}
	return segs, nil
}

// SetPath sets the field at path in obj, the JSON form of a spec (maps,
// lists and scalars as encoding/json decodes them), to value. Missing
// objects on the way are created; a missing list element, a path through a
// scalar, or a path ending at an object or a list is an error. Whether the
// fields exist in the API is for a strict decoding of the result to say.
func SetPath(obj map[string]any, path string, value any) error {
	segs, err := ParsePath(path)
	if err != nil {
		return err
	}
	cur := obj
	for i, s := range segs {
		where := joinPath(segs[:i+1])
		last := i == len(segs)-1
		if last {
			switch cur[s.Field].(type) {
			case map[string]any:
				return fmt.Errorf("%s is an object; a sweep sets single values (numbers or strings)", where)
			case []any:
				return fmt.Errorf("%s is a list; a sweep sets single values (numbers or strings)", where)
			}
			cur[s.Field] = value
			return nil
		}
		next, ok := cur[s.Field]
		if s.Key == "" && s.Index < 0 {
			switch n := next.(type) {
			case nil:
				m := map[string]any{}
				cur[s.Field] = m
				cur = m
			case map[string]any:
				cur = n
			default:
				return fmt.Errorf("%s is %s, not an object", where, describe(n))
			}
			continue
		}
		list, isList := next.([]any)
		if !ok || !isList {
			return fmt.Errorf("%s: %s is not a list in the experiment", where, s.Field)
		}
		elem, err := pick(list, s)
		if err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
		cur = elem
	}
	return nil
}

// pick selects the list element s names.
func pick(list []any, s Segment) (map[string]any, error) {
	if s.Index >= 0 {
		if s.Index >= len(list) {
			return nil, fmt.Errorf("index %d out of range: %s has %d elements", s.Index, s.Field, len(list))
		}
		m, ok := list[s.Index].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("element %d of %s is not an object", s.Index, s.Field)
		}
		return m, nil
	}
	var names []string
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		if name == s.Key {
			return m, nil
		}
		names = append(names, name)
	}
	return nil, fmt.Errorf("no element named %q in %s (it has: %s)", s.Key, s.Field, strings.Join(names, ", "))
}

func joinPath(segs []Segment) string {
	var b strings.Builder
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Field)
		switch {
		case s.Key != "":
			b.WriteString("[" + s.Key + "]")
		case s.Index >= 0:
			b.WriteString("[" + strconv.Itoa(s.Index) + "]")
		}
	}
	return b.String()
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case []any:
		return "a list"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}
