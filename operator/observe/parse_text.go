package observe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseText reads the Prometheus text format or OpenMetrics line by line,
// adding the samples of the families Parse reads to a and checking the
// syntax of every other line without keeping anything of it. A histogram
// family's _bucket, _sum and _count samples are read when the family was
// declared a histogram (# TYPE), as prometheus/common's parser does.
func parseText(r io.Reader, a *aggregator) error {
	histograms := map[string]bool{} // declared histogram, among the families read
	families, lastFamily := 0, ""
	newFamily := func(name string) error {
		if lastFamily != "" && strings.HasPrefix(name, lastFamily) {
			return nil
		}
		lastFamily = name
		if families++; families > a.lim.MaxFamilies {
			return tooLarge("more than %d metric families", a.lim.MaxFamilies)
		}
		return nil
	}
	return scanLines(r, a.lim, func(line []byte) error {
		if line[0] != '#' {
			return a.textSample(line, histograms, newFamily)
		}
		f := bytes.Fields(line[1:])
		if len(f) >= 2 && (string(f[0]) == "TYPE" || string(f[0]) == "HELP") {
			name := string(f[1])
			if err := newFamily(name); err != nil {
				return err
			}
			if k := kinds[name]; k.histogram() && string(f[0]) == "TYPE" {
				histograms[name] = len(f) >= 3 && string(f[2]) == "histogram"
			}
		}
		return nil
	})
}

// scanLines calls fn with each non-blank line of r, without its line
// end, failing on a line longer than lim.MaxLineBytes. The line is valid
// only during the call.
func scanLines(r io.Reader, lim Limits, fn func(line []byte) error) error {
	br := bufio.NewReaderSize(r, lim.MaxLineBytes)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return tooLarge("line %d is longer than %d bytes", lineNo, lim.MaxLineBytes)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("parse metrics: %w", err)
		}
		eof := err != nil
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			if err := fn(line); err != nil {
				if errors.Is(err, ErrTooLarge) {
					return err
				}
				return fmt.Errorf("parse metrics: line %d: %w", lineNo, err)
			}
		}
		if eof {
			return nil
		}
	}
}

// textValue reads the value after a sample's name and labels.
func textValue(name string, rest []byte) (float64, error) {
	val := bytes.TrimLeft(rest, " \t")
	if len(val) == len(rest) {
		return 0, fmt.Errorf("no space before the value of %s", name)
	}
	if i := bytes.IndexAny(val, " \t"); i >= 0 {
		val = val[:i] // a timestamp, or an OpenMetrics exemplar, follows
	}
	v, err := strconv.ParseFloat(string(val), 64)
	if err != nil {
		return 0, fmt.Errorf("value of %s: %q is not a number", name, truncateURL(string(val)))
	}
	return v, nil
}

// textSample reads one sample line.
func (a *aggregator) textSample(line []byte, histograms map[string]bool, newFamily func(string) error) error {
	if a.samples++; a.samples > a.lim.MaxSeries {
		return tooLarge("more than %d series", a.lim.MaxSeries)
	}
	n := metricNameLen(line)
	if n == 0 {
		return fmt.Errorf("no metric name at %q", truncateURL(string(line)))
	}
	name := line[:n]
	k, suffix := kinds[string(name)], ""
	if k.histogram() {
		k = kindNone // a histogram's own name carries no sample
	}
	if k == kindNone {
		for _, sfx := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := bytes.CutSuffix(name, []byte(sfx)); ok && histograms[string(base)] {
				k, suffix = kinds[string(base)], sfx
				break
			}
		}
	}
	if k == kindNone {
		if err := newFamily(string(name)); err != nil {
			return err
		}
	}
	rest := line[n:]
	var l labels
	le := ""
	if len(rest) > 0 && rest[0] == '{' {
		var err error
		var visit func(name string, raw []byte, escaped bool)
		if k != kindNone {
			visit = func(name string, raw []byte, escaped bool) { a.keepLabel(name, raw, escaped, &l, &le) }
		}
		if rest, err = textLabels(rest[1:], visit); err != nil {
			return err
		}
	}
	v, err := textValue(string(name), rest)
	if err != nil {
		return err
	}
	switch {
	case k == kindNone:
	case suffix == "":
		a.value(k, l, v)
	default:
		h := a.hist(k, l)
		if h == nil {
			return nil
		}
		switch suffix {
		case "_bucket":
			b, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return fmt.Errorf("%s: le %q is not a number", name, truncateURL(le))
			}
			a.bucket(h, b, v)
		case "_sum":
			a.total(h, v, 0)
		case "_count":
			a.total(h, 0, v)
		}
	}
	return nil
}

// metricNameLen is the length of the metric name that starts line, 0 if
// it does not start with one.
func metricNameLen(line []byte) int {
	for i, c := range line {
		letter := c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return i
		}
	}
	return len(line)
}

// textLabels reads a label set after its '{' and returns what follows the
// '}'. It calls visit, when not nil, with each label's name and raw value
// (escaped tells whether it holds escapes); the values are only checked
// otherwise.
func textLabels(b []byte, visit func(name string, raw []byte, escaped bool)) ([]byte, error) {
	for {
		b = bytes.TrimLeft(b, " \t")
		if len(b) > 0 && b[0] == '}' {
			return b[1:], nil
		}
		n := metricNameLen(b)
		if n == 0 || bytes.IndexByte(b[:n], ':') >= 0 {
			return nil, fmt.Errorf("a malformed label set")
		}
		name := b[:n]
		b = bytes.TrimLeft(b[n:], " \t")
		if len(b) < 2 || b[0] != '=' {
			return nil, fmt.Errorf("label %s without a value", name)
		}
		b = bytes.TrimLeft(b[1:], " \t")
		if len(b) == 0 || b[0] != '"' {
			return nil, fmt.Errorf("label %s: the value is not quoted", name)
		}
		end, escaped := -1, false
		for i := 1; i < len(b); i++ {
			if b[i] == '\\' {
				escaped = true
				i++
				continue
			}
			if b[i] == '"' {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("label %s: an unterminated value", name)
		}
		if visit != nil {
			visit(string(name), b[1:end], escaped)
		}
		b = bytes.TrimLeft(b[end+1:], " \t")
		if len(b) > 0 && b[0] == ',' {
			b = b[1:]
		} else if len(b) == 0 || b[0] != '}' {
			return nil, fmt.Errorf("a malformed label set after label %s", name)
		}
	}
}

// keepLabel stores the value of a label Parse uses.
func (a *aggregator) keepLabel(name string, raw []byte, escaped bool, l *labels, le *string) {
	var dst *string
	switch name {
	case "code":
		dst = &l.code
	case "handler":
		dst = &l.handler
	case "upstream":
		dst = &l.upstream
	case "role":
		dst = &l.role
	case "le":
		dst = le
	default:
		return
	}
	if len(raw) > 4*a.lim.MaxLabelValue {
		raw = raw[:4*a.lim.MaxLabelValue] // cut below; no need to copy more
	}
	*dst = unescape(raw, escaped)
}

// unescape is a label value of the text format as a string.
func unescape(raw []byte, escaped bool) string {
	if !escaped {
		return string(raw)
	}
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(string(raw))
}
