package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// comparison is two reports of the same chaos against two victims.
type comparison struct {
	A, B     *Report
	LabelA   string
	LabelB   string
	Warnings []string
	// Rows are label, A, B triples: verdicts, victims and summary figures.
	Rows [][]string
	// Counts are finding type, count in A, count in B.
	Counts [][]string
	// Hypothesis are check, result in A, result in B.
	Hypothesis [][]string
}

func compare(a, b *Report) (*comparison, error) {
	if a == nil || b == nil {
		return nil, errors.New("report: compare needs two reports")
	}
	c := &comparison{A: a, B: b, LabelA: "A: " + a.Name, LabelB: "B: " + b.Name}
	c.Warnings = chaosDifferences(a, b)
	c.Rows = [][]string{
		{"Verdict", string(a.Verdict), string(b.Verdict)},
		{"Phase", string(a.Phase), string(b.Phase)},
		{"Victim", a.victimModes(), b.victimModes()},
		{"Elapsed", fmtDur(a.Elapsed), fmtDur(b.Elapsed)},
		{"Findings", fmt.Sprint(len(a.Findings)), fmt.Sprint(len(b.Findings))},
	}
	sa, sb := summaryRows(a), summaryRows(b)
	for i := range sa {
		c.Rows = append(c.Rows, []string{sa[i][0], sa[i][1], sb[i][1]})
	}
	na, nb := a.findingCounts(), b.findingCounts()
	types := map[string]bool{}
	for t := range na {
		types[string(t)] = true
	}
	for t := range nb {
		types[string(t)] = true
	}
	for _, t := range sortedKeys(types) {
		ft := v1alpha1.FindingType(t)
		c.Counts = append(c.Counts, []string{t, fmt.Sprint(na[ft]), fmt.Sprint(nb[ft])})
	}
	ha, hb := a.hypothesisRows(), b.hypothesisRows()
	for i := range ha {
		c.Hypothesis = append(c.Hypothesis, []string{ha[i].Check, ha[i].Result, hb[i].Result})
	}
	return c, nil
}

// chaosDifferences says how the two drills' chaos differs; a fair A/B has
// the same faults, load and duration.
func chaosDifferences(a, b *Report) []string {
	var w []string
	if !sameJSON(a.Spec.Faults, b.Spec.Faults) {
		w = append(w, fmt.Sprintf("The faults differ (%s vs %s): this is not the same chaos against two victims.",
			faultNames(a), faultNames(b)))
	}
	if !reflect.DeepEqual(a.Spec.Load, b.Spec.Load) {
		w = append(w, fmt.Sprintf("The load differs: %s vs %s.", a.load(), b.load()))
	} else if a.Spec.Duration != b.Spec.Duration || a.Spec.SteadyState != b.Spec.SteadyState {
		w = append(w, fmt.Sprintf("The drill length differs: %s vs %s.", a.load(), b.load()))
	}
	return w
}

func sameJSON(x, y any) bool {
	bx, errx := json.Marshal(x)
	by, erry := json.Marshal(y)
	return errx == nil && erry == nil && string(bx) == string(by)
}

func faultNames(r *Report) string {
	var names []string
	for _, f := range r.Spec.Faults {
		names = append(names, f.Name+"@"+fmtDur(f.After.Duration))
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return fmt.Sprint(names)
}

// WriteCompareMarkdown writes a Markdown comparison of a and b, the same
// chaos against two victims: verdicts, victims, summary figures, finding
// counts by type and hypothesis results side by side, with a warning first
// when the two drills' faults, load or length differ.
func WriteCompareMarkdown(w io.Writer, a, b *Report) error {
	c, err := compare(a, b)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("# Chaos drill comparison: %s vs %s\n\n", md(a.Name), md(b.Name))
	for _, warn := range c.Warnings {
		p("> **Warning:** %s\n\n", md(warn))
	}
	head := []string{"", c.LabelA, c.LabelB}
	writeTable(p, head, c.Rows)
	p("## Findings by type\n\n")
	if len(c.Counts) == 0 {
		p("No findings in either drill.\n\n")
	} else {
		writeTable(p, []string{"Type", c.LabelA, c.LabelB}, c.Counts)
	}
	p("## Hypothesis\n\n")
	writeTable(p, []string{"Steady state", c.LabelA, c.LabelB}, c.Hypothesis)
	return bw.Flush()
}

// WriteCompareHTML writes one self-contained HTML page comparing a and b:
// the same tables as WriteCompareMarkdown, each drill's topology with its
// own scrubber side by side, and each chart with both drills on the same
// axes (A solid, B dashed), each drill's fault windows shaded and findings
// marked; the script and styles inline, as in WriteHTML.
func WriteCompareHTML(w io.Writer, a, b *Report) error {
	c, err := compare(a, b)
	if err != nil {
		return err
	}
	cd := buildCharts([]string{"A", "B"}, a, b)
	va, vb := view(a), view(b)
	data := struct {
		*comparison
		VA, VB *reportView
		Charts []chartJSON
		Data   pageData
		Assets pageAssets
	}{c, va, vb, cd.Charts, pageData{Charts: cd, Topologies: topologies([]string{"-a", "-b"}, va, vb)}, assets}
	bw := bufio.NewWriter(w)
	if err := templates.ExecuteTemplate(bw, "compare.html", data); err != nil {
		return err
	}
	return bw.Flush()
}
