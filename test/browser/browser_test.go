package browser

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/report"
	"github.com/cascadelab/cascadelab/operator/victimlog"
)

// chromiumPackage is the Debian package that provides the browser.
const chromiumPackage = "chromium"

// browserPath finds Chromium or Chrome: $CHROMIUM, then the usual names on
// PATH. Without one the test fails at once, naming the package to install:
// it is part of `make test`, and a skipped browser test would pass CI
// without ever opening the page.
func browserPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		bin, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("CHROMIUM=%s: %v", p, err)
		}
		return bin
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	t.Fatalf("no Chromium or Chrome on PATH: install Debian's package (as root: apt-get install -y %s), "+
		"or set CHROMIUM to a Chrome or Chromium binary", chromiumPackage)
	return ""
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// artifactsDir is where the screenshots and the drills' reports are left
// for people to look at: $TEST_ARTIFACTS/browser when set (CI keeps that
// directory), else test/browser/screenshots (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "test", "browser", "screenshots")
	if a := os.Getenv("TEST_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "browser")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var cli struct {
	once sync.Once
	path string
	err  error
}

// cascadelab builds the CLI once; it runs the victim as its own subcommand.
func cascadelab(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		dir, err := os.MkdirTemp("", "browser-cascadelab-")
		if err != nil {
			cli.err = err
			return
		}
		cli.path = filepath.Join(dir, "cascadelab")
		build := exec.Command("go", "build", "-o", cli.path, "./cmd/cascadelab")
		build.Dir = repoRoot(t)
		if out, err := build.CombinedOutput(); err != nil {
			cli.err = fmt.Errorf("go build cascadelab: %v\n%s", err, out)
		}
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.path
}

// runDrill runs a drill of testdata with the CLI into dir/name and
// returns its report.
func runDrill(t *testing.T, file, dir string, expect string) *report.Report {
	t.Helper()
	out := filepath.Join(dir, strings.TrimSuffix(file, ".yaml"))
	os.RemoveAll(out)
	args := []string{"run", filepath.Join("testdata", file), "--report-dir", out}
	if expect != "" {
		args = append(args, "--expect", expect)
	}
	cmd := exec.Command(cascadelab(t), args...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cascadelab run %s: %v\n%s", file, err, tail(string(b), 40))
	}
	f, err := os.Open(filepath.Join(out, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// page is one browser tab on a page, collecting what its console says.
type page struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

// open starts a tab on file and waits for the page's script to be done.
func open(t *testing.T, browser context.Context, file string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx}
	// The first Run starts the tab; the console is read from then on.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.mu.Lock()
				p.errors = append(p.errors, m.String())
				p.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate("file://"+file),
	); err != nil {
		t.Fatalf("open %s: %v", file, err)
	}
	p.eval(`new Promise(r => { const f = () => window.cascadelab ? r(true) : setTimeout(f, 50); f(); })`, nil, chromedp.EvalAwaitPromise)
	return p
}

// eval evaluates expr in the page into out (nil to ignore the result).
func (p *page) eval(expr string, out any, opts ...chromedp.EvaluateOption) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	var err error
	switch o := out.(type) {
	case nil:
		_, err = chromedp.Run(ctx, chromedp.Evaluate[any](expr, opts...))
	case *string:
		*o, err = chromedp.Run(ctx, chromedp.Evaluate[string](expr, opts...))
	case *int:
		*o, err = chromedp.Run(ctx, chromedp.Evaluate[int](expr, opts...))
	case *float64:
		*o, err = chromedp.Run(ctx, chromedp.Evaluate[float64](expr, opts...))
	case *bool:
		*o, err = chromedp.Run(ctx, chromedp.Evaluate[bool](expr, opts...))
	case *[]string:
		*o, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](expr, opts...))
	case *[]float64:
		*o, err = chromedp.Run(ctx, chromedp.Evaluate[[]float64](expr, opts...))
	default:
		p.t.Fatalf("eval into %T", out)
	}
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// noErrors fails the test for every console error and uncaught exception.
func (p *page) noErrors(what string) {
	p.t.Helper()
	// A last round trip, so that messages of the actions above are in.
	p.eval(`1`, nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errors {
		p.t.Errorf("%s: console: %s", what, e)
	}
}

// screenshot writes a PNG of the whole page.
func (p *page) screenshot(path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// element writes a PNG of the first element matching sel.
func (p *page) element(sel, path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("screenshot of %s: %v", sel, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// rect is an element's box in the viewport, after scrolling it into view.
type rect struct{ X, Y, W, H float64 }

func (p *page) rect(sel string) rect {
	p.t.Helper()
	var v []float64
	p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()`, sel), &v)
	if len(v) != 4 || v[2] <= 0 || v[3] <= 0 {
		p.t.Fatalf("%s: box %v", sel, v)
	}
	return rect{v[0], v[1], v[2], v[3]}
}

// TestReportPagesInBrowser runs two real drills of the same chaos (the racy
// victim with duplicate order IDs, and the fixed one), opens their
// report.html and the compare page in Chromium, and checks what a reader
// does there: no console error or exception; one topology node per
// process; the scrubber, moved by the keyboard to a crash, turns that
// node crashed; the first double charge's evidence lists both requests;
// the charts answer hover, zoom and legend clicks. It leaves a screenshot
// of each page (and the reports) in test/browser/screenshots, or
// $TEST_ARTIFACTS/browser.
func TestReportPagesInBrowser(t *testing.T) {
	bin := browserPath(t) // fail before running anything when there is none
	if testing.Short() {
		t.Skip("runs two 25 s drills (skipped under -short)")
	}
	art := artifactsDir(t)
	racy := runDrill(t, "race-drill.yaml", art, "HypothesisViolated")
	fixed := runDrill(t, "fixed-drill.yaml", art, "")
	cmp := exec.Command(cascadelab(t), "compare",
		filepath.Join(art, "race-drill", report.JSONFile), filepath.Join(art, "fixed-drill", report.JSONFile),
		"--out", filepath.Join(art, "compare"))
	if b, err := cmp.CombinedOutput(); err != nil {
		t.Fatalf("cascadelab compare: %v\n%s", err, b)
	}

	// No sandbox: Chromium refuses its sandbox as root, and in many CI
	// containers it has none to use; the browser opens only the pages this
	// test wrote.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	browser, cancel := chromedp.NewContext(actx)
	defer cancel()

	t.Run("report", func(t *testing.T) {
		p := open(t, browser, filepath.Join(art, "race-drill", report.HTMLFile))
		// Opened from a file, the page loads nothing else.
		var loaded []string
		p.eval(`performance.getEntriesByType("resource").map(e => e.name)`, &loaded)
		if len(loaded) != 0 {
			t.Errorf("report.html loaded %v", loaded)
		}
		checkTopology(t, p, racy)
		checkRace(t, p, racy)
		checkCharts(t, p)
		p.noErrors("report.html")
		// The topology is left on the first crash for the screenshots.
		p.element(".topo-wrap", filepath.Join(art, "report-topology.png"))
		p.element("section.chain", filepath.Join(art, "report-race.png"))
		p.eval(`window.scrollTo(0, 0)`, nil)
		p.screenshot(filepath.Join(art, "report.png"))
	})
	t.Run("fixed", func(t *testing.T) {
		p := open(t, browser, filepath.Join(art, "fixed-drill", report.HTMLFile))
		var nodes int
		p.eval(`document.querySelectorAll("#topology g.node").length`, &nodes)
		if want := len(processes(fixed)); nodes != want {
			t.Errorf("%d topology nodes, want %d", nodes, want)
		}
		p.noErrors("fixed report.html")
	})
	t.Run("compare", func(t *testing.T) {
		p := open(t, browser, filepath.Join(art, "compare", "compare.html"))
		// Every chart draws both drills on one pair of axes.
		var charts int
		p.eval(`document.querySelectorAll("figure.chart .uplot").length`, &charts)
		if charts != 5 {
			t.Errorf("%d charts drawn, want 5", charts)
		}
		var both int
		p.eval(`window.cascadelab.plots.filter(u => u.series.some(s => /^A /.test(s.label)) && u.series.some(s => /^B /.test(s.label))).length`, &both)
		if both != charts {
			t.Errorf("%d of %d charts show both drills", both, charts)
		}
		var dashed bool
		p.eval(`window.cascadelab.plots[0].series.some(s => /^B /.test(s.label) && s.dash && s.dash.length > 0)`, &dashed)
		if !dashed {
			t.Error("B's lines are not dashed")
		}
		// Each drill's topology, side by side, each with its scrubber.
		var na, nb, scrubs int
		p.eval(`document.querySelectorAll("#topology-a g.node").length`, &na)
		p.eval(`document.querySelectorAll("#topology-b g.node").length`, &nb)
		p.eval(`[...document.querySelectorAll(".scrubber")].filter(e => !e.hidden).length`, &scrubs)
		if na != len(processes(racy)) || nb != len(processes(fixed)) || scrubs != 2 {
			t.Errorf("compare: %d and %d topology nodes, %d scrubbers; want %d, %d and 2", na, nb, scrubs, len(processes(racy)), len(processes(fixed)))
		}
		p.noErrors("compare.html")
		p.element("#chart-errors", filepath.Join(art, "compare-errors.png"))
		p.eval(`window.scrollTo(0, 0)`, nil)
		p.screenshot(filepath.Join(art, "compare.png"))
	})
}

// processes are the processes a report observed.
func processes(r *report.Report) []string {
	seen := map[string]bool{}
	for _, pt := range r.Series {
		for name := range pt.Targets {
			seen[name] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// checkTopology: one node per process, and the scrubber, moved with the
// keyboard as a reader would, shows a crashed process crashed at its crash
// and not at the start.
func checkTopology(t *testing.T, p *page, r *report.Report) {
	var nodes []string
	p.eval(`[...document.querySelectorAll("#topology g.node")].map(g => g.dataset.node).sort()`, &nodes)
	want := processes(r)
	if !slices.Equal(nodes, want) || len(want) != 5 {
		t.Errorf("topology nodes %v, want one per process %v (5: loadgen, gateway, two orders, ledger)", nodes, want)
	}
	// The crashes of the racy map, first; should the race not have fired
	// in this run, the pod-kill (the drill always has one). The scrubber is
	// moved with the keyboard to the sample before a crash and then to the
	// crash's: the process must turn crashed there. A crash before the
	// first sample, or one while the process was still down from the one
	// before, shows no change; the first crash that can is checked.
	var crashes []engine.TimelineEvent
	for _, kind := range []string{engine.KindProcessCrashed, engine.KindProcessKilled} {
		for _, ev := range r.Timeline {
			if ev.Kind == kind {
				crashes = append(crashes, ev)
			}
		}
	}
	if len(crashes) == 0 {
		t.Fatalf("the drill had no crash and no kill (timeline %+v): the scrubber cannot be checked", r.Timeline)
	}
	p.rect("#scrubber")
	scrubTo := func(frame int, node string) (at int, state, shown string) {
		p.do(chromedp.Focus(chromedp.ID("scrubber")), chromedp.KeyEvent(kb.Home))
		if frame > 0 {
			p.do(chromedp.KeyEvent(strings.Repeat(kb.ArrowRight, frame)))
		}
		p.eval(`+document.getElementById("scrubber").value`, &at)
		p.eval(fmt.Sprintf(`document.querySelector('#topology g.node[data-node=%q]').getAttribute("data-state")`, node), &state)
		p.eval(`document.getElementById("scrub-time").textContent`, &shown)
		if at != frame {
			t.Errorf("scrubber at frame %d after %d key presses", at, frame)
		}
		return at, state, shown
	}
	checked := false
	for _, crash := range crashes[:min(len(crashes), 4)] {
		frame := -1
		for i, pt := range r.Series {
			if pt.At >= crash.At {
				frame = i
				break
			}
		}
		if frame < 1 {
			t.Logf("%s %s at %s: before the second sample, no state to change from", crash.Target, crash.Kind, crash.At)
			continue
		}
		_, before, _ := scrubTo(frame-1, crash.Target)
		_, after, shown := scrubTo(frame, crash.Target)
		t.Logf("%s %s at %s (%s); scrubber at frame %d: %s, at frame %d: %s (%q)", crash.Target, crash.Kind, crash.At, crash.Detail, frame-1, before, frame, after, shown)
		if after != "crashed" {
			t.Errorf("%s: %q at its crash (frame %d, %s), want crashed", crash.Target, after, frame, crash.At)
		}
		if !strings.Contains(shown, fmt.Sprintf("%.1f s", r.Series[frame].At.Seconds())) {
			t.Errorf("the scrubber says %q, want the frame's time %.1f s", shown, r.Series[frame].At.Seconds())
		}
		if before != after {
			checked = true
			break
		}
	}
	if !checked {
		t.Errorf("moving the scrubber onto a crash never changed the crashed process's state (crashes %v)", crashes)
	}
	// The fault domain is outlined and the failure's path marked.
	var domain, path []string
	p.eval(`[...document.querySelectorAll("#topology g.node.domain")].map(g => g.dataset.node).sort()`, &domain)
	p.eval(`[...document.querySelectorAll("#topology g.node.path")].map(g => g.dataset.node)`, &path)
	var targeted []string
	for _, f := range r.Faults {
		targeted = append(targeted, f.Targets...)
	}
	sort.Strings(targeted)
	targeted = slices.Compact(targeted)
	if !slices.Equal(domain, targeted) {
		t.Errorf("fault domain %v, want the faults' targets %v", domain, targeted)
	}
	// The failure's path: every process that crashed after the first
	// fault was injected is on it (and the slow ledger always degrades
	// the edge, so it is never empty).
	first := r.Series[len(r.Series)-1].At
	for _, f := range r.Faults {
		if f.InjectedAt != nil && f.InjectedAt.Duration < first {
			first = f.InjectedAt.Duration
		}
	}
	if len(path) == 0 {
		t.Error("no failure path")
	}
	for _, ev := range r.Timeline {
		if ev.Kind == engine.KindProcessCrashed && ev.At >= first && !slices.Contains(path, ev.Target) {
			t.Errorf("failure path %v lacks %s, which crashed at %s, after the first fault (%s)", path, ev.Target, ev.At, first)
		}
	}
}

// checkRace: the first double charge whose two charges came from two
// requests lists both requests, with their events, in the evidence table.
func checkRace(t *testing.T, p *page, r *report.Report) {
	if len(r.Races) == 0 {
		t.Fatalf("the drill charged %v orders twice but report.json has no reconstructed race", r.Summary.DuplicateCharges)
	}
	var chain *victimlog.Chain
	for i, c := range r.Races {
		if len(c.Requests) >= 2 {
			chain = &r.Races[i]
			break
		}
	}
	if chain == nil {
		t.Fatalf("no reconstructed double charge with two requests among %d", len(r.Races))
	}
	sel := fmt.Sprintf(`section.chain[data-order=%q]`, chain.OrderID)
	var listed []string
	p.eval(fmt.Sprintf(`[...document.querySelectorAll('%s code.request')].map(e => e.textContent)`, sel), &listed)
	var rows []string
	p.eval(fmt.Sprintf(`[...document.querySelectorAll('%s tr.ev')].map(tr => tr.dataset.request + " " + tr.dataset.event)`, sel), &rows)
	var window string
	p.eval(fmt.Sprintf(`document.querySelector('%s .window').textContent`, sel), &window)
	t.Logf("order %s charged twice (%s): requests %v, %d events", chain.OrderID, window, listed, len(rows))
	for _, req := range chain.Requests[:2] {
		if !slices.Contains(listed, req) {
			t.Errorf("request %s not listed: %v", req, listed)
		}
		charged := false
		for _, row := range rows {
			charged = charged || strings.HasPrefix(row, req+" ")
		}
		if !charged {
			t.Errorf("no event of request %s in the chain's table: %v", req, rows)
		}
	}
	dedup := false
	for _, row := range rows {
		dedup = dedup || strings.HasSuffix(row, " duplicate_deduct")
	}
	if !dedup {
		t.Errorf("the chain's table has no duplicate_deduct: %v", rows)
	}
	if window != chain.Window || window == "" {
		t.Errorf("window %q, want %q", window, chain.Window)
	}
}

// checkCharts: one uPlot chart per signal; hovering shows the values at
// the cursor; a drag zooms to a window; a legend click hides a line.
func checkCharts(t *testing.T, p *page) {
	var ids []string
	p.eval(`window.cascadelab.plots.map(u => u.root.dataset.chart)`, &ids)
	if want := []string{"errors", "p99", "goroutines", "restarts", "duplicates"}; !slices.Equal(ids, want) {
		t.Errorf("charts %v, want %v", ids, want)
	}
	const over = `#chart-goroutines .u-over`
	r := p.rect(over)
	y := r.Y + r.H/2
	hoverTime := func(frac float64) string {
		p.do(chromedp.MouseEvent(chromedp.MouseMoved, r.X+r.W*frac, y))
		var s string
		p.eval(`document.querySelector("#chart-goroutines .u-legend .u-series .u-value").textContent`, &s)
		return s
	}
	h1, h2 := hoverTime(0.2), hoverTime(0.8)
	if h1 == h2 || !strings.HasSuffix(h1, " s") || !strings.HasSuffix(h2, " s") {
		t.Errorf("hover at 20%% and 80%% of the chart shows times %q and %q", h1, h2)
	}
	var span0 []float64
	scale := `(() => { const u = window.cascadelab.plots[2]; return [u.scales.x.min, u.scales.x.max]; })()`
	p.eval(scale, &span0)
	p.do(chromedp.MouseEvent(chromedp.MouseMoved, r.X+r.W*0.3, y),
		chromedp.MouseEvent(chromedp.MousePressed, r.X+r.W*0.3, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, r.X+r.W*0.45, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, r.X+r.W*0.6, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, r.X+r.W*0.6, y, chromedp.ButtonLeft))
	var span1 []float64
	p.eval(scale, &span1)
	if len(span0) != 2 || len(span1) != 2 || !(span1[0] > span0[0] && span1[1] < span0[1]) ||
		math.Abs((span1[1]-span1[0])/(span0[1]-span0[0])-0.3) > 0.05 {
		t.Errorf("a drag over 30%% of the chart zoomed x from %v to %v", span0, span1)
	}
	// A legend click hides that line (series 1: the total).
	lr := p.rect(`#chart-goroutines .u-legend .u-series:nth-child(2)`)
	p.do(chromedp.MouseClickXY(lr.X+lr.W/2, lr.Y+lr.H/2))
	var shown bool
	p.eval(`window.cascadelab.plots[2].series[1].show`, &shown)
	if shown {
		t.Error("a click on the legend did not hide the line")
	}
}
