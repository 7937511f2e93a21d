package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// JUnit XML, as CI systems read it: one <testsuite> per drill, one
// <testcase> per hypothesis row (classname "<drill>.hypothesis") and per
// fault (classname "<drill>.faults"). A breached row fails with the text of
// each finding that breached it; a fault fails when it was not injected,
// not recovered, or its effect was not seen. When the drill could not be
// judged (Inconclusive) a row no finding breached is skipped, with the
// reason, never passed.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties []junitProperty `xml:"properties>property"`
		Cases      []junitCase     `xml:"testcase"`
		SystemOut  string          `xml:"system-out,omitempty"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		ClassName string        `xml:"classname,attr"`
		Name      string        `xml:"name,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitMessage `xml:"failure"`
		Skipped   *junitMessage `xml:"skipped"`
	}
	junitMessage struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

// WriteJUnit writes the drills' reports as one JUnit XML document.
func WriteJUnit(w io.Writer, reports ...*Report) error {
	doc := junitSuites{Name: "cascadelab"}
	var total time.Duration
	for _, r := range reports {
		if r == nil {
			return errors.New("report: nil report")
		}
		s := r.junitSuite()
		doc.Suites = append(doc.Suites, s)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
		total += r.Elapsed
	}
	doc.Time = secs(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func (r *Report) junitSuite() junitSuite {
	s := junitSuite{Name: r.Name, Time: secs(r.Elapsed), Properties: []junitProperty{
		{"verdict", string(r.Verdict)}, {"phase", string(r.Phase)}, {"backend", r.Backend}}}
	if !r.StartedAt.IsZero() {
		s.Timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	inconclusive := r.Verdict == v1alpha1.VerdictInconclusive
	for _, row := range r.hypothesisRows() {
		c := junitCase{ClassName: r.Name + ".hypothesis", Name: row.Check + " " + row.Bound, Time: "0"}
		if fs := r.findingsOf(row.types...); len(fs) > 0 {
			c.Failure = &junitMessage{Message: "observed " + row.Observed, Type: string(fs[0].Type), Text: r.findingText(fs)}
		} else if strings.HasPrefix(row.Result, "not judged:") {
			c.Skipped = &junitMessage{Message: row.Result}
		} else if inconclusive {
			c.Skipped = &junitMessage{Message: "not judged: the drill was Inconclusive (" + r.whyShort() + ")"}
		}
		s.add(c)
	}
	for _, f := range r.Faults {
		c := junitCase{ClassName: r.Name + ".faults", Name: "fault " + f.Name + " injected, recovered and its effect seen", Time: "0"}
		var problems []string
		if f.InjectedAt == nil {
			problems = append(problems, "not injected")
		}
		if f.State != v1alpha1.FaultRecovered {
			problems = append(problems, "state "+string(f.State))
		}
		if f.Effect != v1alpha1.EffectConfirmed {
			problems = append(problems, "effect "+orDefault(string(f.Effect), "not judged"))
		}
		if len(problems) > 0 {
			text := strings.TrimSpace(f.Message + "\n" + f.EffectDetail)
			for _, fd := range r.Findings {
				if (fd.Type == v1alpha1.FindingFaultNotInjected || fd.Type == v1alpha1.FindingFaultEffectNotObserved) && strings.Contains(fd.Message, f.Name) {
					text += "\n" + fd.Message
				}
			}
			c.Failure = &junitMessage{Message: strings.Join(problems, ", "), Type: "Fault", Text: strings.TrimSpace(text)}
		}
		s.add(c)
	}
	s.SystemOut = r.headline()
	return s
}

func (s *junitSuite) add(c junitCase) {
	s.Cases = append(s.Cases, c)
	s.Tests++
	if c.Failure != nil {
		s.Failures++
	}
	if c.Skipped != nil {
		s.Skipped++
	}
}

func (r *Report) findingsOf(types ...v1alpha1.FindingType) []v1alpha1.Finding {
	var out []v1alpha1.Finding
	for _, f := range r.Findings {
		if slices.Contains(types, f.Type) {
			out = append(out, f)
		}
	}
	return out
}

// findingText is one line per finding: when, where, what it followed, and
// its message.
func (r *Report) findingText(fs []v1alpha1.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s at %s", f.Type, fmtDur(f.At.Duration))
		if f.Target != "" {
			fmt.Fprintf(&b, " on %s", f.Target)
		}
		fmt.Fprintf(&b, " (after: %s): %s\n", r.Cause(f), f.Message)
	}
	return strings.TrimSpace(b.String())
}

// whyShort names the findings that made the drill Inconclusive.
func (r *Report) whyShort() string {
	var types []string
	for _, f := range r.Findings {
		if isEvidenceType(f.Type) || f.Type == v1alpha1.FindingAborted || f.Type == findingSteadyStateNotMet {
			if !slices.Contains(types, string(f.Type)) {
				types = append(types, string(f.Type))
			}
		}
	}
	if len(types) == 0 {
		return "phase " + orDefault(string(r.Phase), "unknown")
	}
	return strings.Join(types, ", ")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnitFile writes the reports as JUnit XML to path, atomically (a
// reader never sees half a file), creating its directory if needed.
func WriteJUnitFile(path string, reports ...*Report) error {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, reports...); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return writeAtomic(path, buf.Bytes())
}
