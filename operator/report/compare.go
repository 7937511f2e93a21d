package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// comparison is two reports of the same chaos against two victims.
type comparison struct {
	A, B   *Report
	LabelA string
	LabelB string
	// Differences are ChaosDifferences(A, B): none when the two drills ran
	// like for like.
	Differences []string
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
	c.Differences = ChaosDifferences(a, b)
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
	for _, x := range ha {
		other := "—"
		for _, y := range hb {
			if y.Check == x.Check {
				other = y.Result
			}
		}
		c.Hypothesis = append(c.Hypothesis, []string{x.Check, x.Result, other})
	}
	return c, nil
}

// The like-for-like line without its lead, and what a difference means,
// for the comparison pages.
var (
	likeForLikeDetail    = strings.TrimPrefix(LikeForLike, "like for like: ")
	notLikeForLikeDetail = "the drills differ in more than the victim, so the figures below do not show the victim's effect alone."
)

// LikeForLikeDetail is likeForLikeDetail for the HTML template.
func (*comparison) LikeForLikeDetail() string { return likeForLikeDetail }

// NotLikeForLikeDetail is notLikeForLikeDetail for the HTML template.
func (*comparison) NotLikeForLikeDetail() string { return notLikeForLikeDetail }

// WriteCompareMarkdown writes a Markdown comparison of a and b, the same
// chaos against two victims: verdicts, victims, summary figures, finding
// counts by type and hypothesis results side by side. It opens with
// whether the two drills ran like for like (see ChaosDifferences) and, when
// they did not, a warning listing every difference.
func WriteCompareMarkdown(w io.Writer, a, b *Report) error {
	c, err := compare(a, b)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("# Chaos drill comparison: %s vs %s\n\n", md(a.Name), md(b.Name))
	if len(c.Differences) == 0 {
		p("> **Like for like:** %s.\n\n", md(likeForLikeDetail))
	} else {
		p("> **Warning: not like for like** (A vs B): %s\n>\n", md(notLikeForLikeDetail))
		for _, d := range c.Differences {
			p("> - %s\n", md(d))
		}
		p("\n")
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
