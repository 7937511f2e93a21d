package observe

import (
	"fmt"
	"io"
)

// ScanText streams a Prometheus text exposition within lim (its zero
// fields DefaultLimits'), for a reader of another exporter's series that
// must not trust the body: fn is called with each sample of the families
// in names — its name, its labels (values cut to lim.MaxLabelValue) and
// its value — and nothing of any other family is kept, though every
// line's syntax is checked. Beyond lim.MaxBytes, MaxLineBytes or
// MaxSeries it fails with an error wrapping ErrTooLarge.
func ScanText(r io.Reader, lim Limits, names map[string]bool, fn func(name string, labels map[string]string, v float64)) error {
	lim = lim.withDefaults()
	r = &cappedReader{r: r, left: lim.MaxBytes, max: lim.MaxBytes}
	samples := 0
	return scanLines(r, lim, func(line []byte) error {
		if line[0] == '#' {
			return nil
		}
		if samples++; samples > lim.MaxSeries {
			return tooLarge("more than %d series", lim.MaxSeries)
		}
		n := metricNameLen(line)
		if n == 0 {
			return fmt.Errorf("no metric name at %q", truncateURL(string(line)))
		}
		name, rest := string(line[:n]), line[n:]
		var ls map[string]string
		if len(rest) > 0 && rest[0] == '{' {
			var visit func(string, []byte, bool)
			if names[name] {
				ls = map[string]string{}
				visit = func(k string, raw []byte, escaped bool) {
					v := unescape(raw[:min(len(raw), 4*lim.MaxLabelValue)], escaped)
					ls[k] = v[:min(len(v), lim.MaxLabelValue)]
				}
			}
			var err error
			if rest, err = textLabels(rest[1:], visit); err != nil {
				return err
			}
		}
		v, err := textValue(name, rest)
		if err != nil {
			return err
		}
		if names[name] {
			fn(name, ls, v)
		}
		return nil
	})
}
