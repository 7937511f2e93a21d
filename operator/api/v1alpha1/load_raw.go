package v1alpha1

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// durationRE is the schema's pattern for the experiment's own durations: a
// subset of what time.ParseDuration accepts (no sign, no "µs", no ".5s").
var durationRE = regexp.MustCompile(`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`)

// checkRaw checks, on the decoded-but-untyped document, what the typed
// decoding would hide: durations in the schema's form (so the error names
// the field instead of saying only "invalid duration"), and explicit zeros
// in fields whose zero value SetDefaults would replace but the API server
// rejects (replicas: 0, rate: 0, steadyState: 0s, ...).
func checkRaw(raw map[string]any) error {
	spec, _ := raw["spec"].(map[string]any)
	if spec == nil {
		return nil
	}
	var msgs []string
	dur := func(path string, v any, positive bool) {
		s, ok := v.(string)
		switch {
		case !ok:
			msgs = append(msgs, fmt.Sprintf("%s: must be a duration string such as \"30s\", not %s", path, jsonText(v)))
		case len(s) > 32:
			msgs = append(msgs, fmt.Sprintf("%s: must be at most 32 characters", path))
		case !durationRE.MatchString(s):
			msgs = append(msgs, fmt.Sprintf("%s: %q is not a duration such as \"30s\" or \"1m30s\" (units ns, us, ms, s, m, h; no sign)", path, s))
		default:
			if d, err := time.ParseDuration(s); err != nil {
				msgs = append(msgs, fmt.Sprintf("%s: %q is out of range", path, s))
			} else if positive && d == 0 {
				msgs = append(msgs, fmt.Sprintf("%s: must be greater than 0s", path))
			}
		}
	}
	zero := func(path string, v any, msg string) {
		if n, ok := v.(int64); ok && n == 0 {
			msgs = append(msgs, fmt.Sprintf("%s: %s", path, msg))
		}
	}
	if v, ok := spec["duration"]; ok {
		dur("spec.duration", v, true)
	}
	if v, ok := spec["steadyState"]; ok {
		dur("spec.steadyState", v, true)
	}
	if load, ok := spec["load"].(map[string]any); ok {
		zero("spec.load.rate", load["rate"], "must be between 1 and 5000 requests per second")
		if v, ok := load["duplicateAfter"]; ok {
			dur("spec.load.duplicateAfter", v, false)
		}
	}
	if victim, ok := spec["victim"].(map[string]any); ok {
		if orders, ok := victim["orders"].(map[string]any); ok {
			zero("spec.victim.orders.replicas", orders["replicas"], "must be between 1 and 10")
			for _, name := range []string{"janitorInterval", "cacheTTL"} {
				if v, ok := orders[name]; ok {
					dur("spec.victim.orders."+name, v, false) // 0s: Validate says the range
				}
			}
		}
		if gw, ok := victim["gateway"].(map[string]any); ok {
			if v, ok := gw["timeout"]; ok {
				dur("spec.victim.gateway.timeout", v, true)
			}
		}
	}
	if target, ok := spec["target"].(map[string]any); ok {
		zero("spec.target.adminPort", target["adminPort"], "must be between 1 and 65535")
		zero("spec.target.port", target["port"], "must be between 1 and 65535")
		if proc, ok := target["process"].(map[string]any); ok {
			zero("spec.target.process.replicas", proc["replicas"], "must be between 1 and 10")
		}
	}
	if abort, ok := spec["abort"].(map[string]any); ok {
		if v, ok := abort["for"]; ok {
			dur("spec.abort.for", v, true)
		}
	}
	if faults, ok := spec["faults"].([]any); ok {
		for i, f := range faults {
			if fm, ok := f.(map[string]any); ok {
				if v, ok := fm["after"]; ok {
					dur(fmt.Sprintf("spec.faults[%d].after", i), v, false)
				}
			}
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
