// Package docs_test checks the user's guide against the code: every `make`
// target, `cascadelab` command and flag, manager flag, victim flag, repository
// path and Experiment field path that README.md and docs/**/*.md name must
// exist, and docs/reference/experiment.md must be what hack/docgen generates.
// It reads files only (no network, no build of the CLI or the manager) and
// takes well under a second, but for the generator check.
package docs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// root is the repository root, relative to this package.
const root = "../.."

// knowledge is what the code defines, read from its source.
type knowledge struct {
	makeTargets  map[string]bool
	commands     map[string]map[string]bool // cascadelab subcommand → its flags
	managerFlags map[string]bool
	victimFlags  map[string]bool
	fields       map[string]bool // spec.… and status.… paths, lists as []
	exists       func(path string) bool
}

// externalFlags are flags of other tools (go, kubectl, kind, helm) that a page
// may name on their own, in a code span.
var externalFlags = map[string]bool{
	"run": true, "count": true, "race": true, "tags": true, "short": true, "timeout": true, "v": true, "bench": true, // go test
	"previous": true, "as": true, "as-group": true, "namespace": true, "context": true, "clusterrole": true, "group": true, // kubectl
	"help": true, "h": true,
}

func load(t testing.TB) *knowledge {
	t.Helper()
	k := &knowledge{
		makeTargets:  makeTargets(t, filepath.Join(root, "Makefile")),
		commands:     map[string]map[string]bool{},
		managerFlags: map[string]bool{"kubeconfig": true, "v": true, "vmodule": true, "help": true, "h": true},
		victimFlags:  map[string]bool{"help": true, "h": true},
		fields:       crdFields(t, filepath.Join(root, "manifests/crd/bases/cascadelab.dev_experiments.yaml")),
		exists: func(p string) bool {
			if strings.ContainsAny(p, "*?[") {
				m, _ := filepath.Glob(filepath.Join(root, p))
				return len(m) > 0
			}
			_, err := os.Stat(filepath.Join(root, p))
			return err == nil
		},
	}
	for f := range sweepFields(t, filepath.Join(root, "operator/sweep/sweep.go")) {
		k.fields[f] = true
	}
	// cascadelab's subcommands are the cases of main.go's dispatcher; the
	// flags of each are those its file defines on its flag set.
	main := readFile(t, filepath.Join(root, "cmd/cascadelab/main.go"))
	for _, m := range regexp.MustCompile(`case ((?:"[\w-]+",? ?)+):`).FindAllStringSubmatch(main, -1) {
		for _, c := range regexp.MustCompile(`"([\w-]+)"`).FindAllStringSubmatch(m[1], -1) {
			if !strings.HasPrefix(c[1], "-") {
				k.commands[c[1]] = map[string]bool{"help": true, "h": true}
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "cmd/cascadelab/*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src := readFile(t, f)
		m := regexp.MustCompile(`flag\.NewFlagSet\("([\w-]+)"`).FindStringSubmatch(src)
		if m == nil {
			continue
		}
		if k.commands[m[1]] == nil {
			t.Fatalf("%s: flag set %q is no command of main.go", f, m[1])
		}
		for fl := range flagNames(src) {
			k.commands[m[1]][fl] = true
		}
	}
	for _, f := range []string{"operator/cmd/manager/main.go", "operator/cmd/manager/webhook.go"} {
		for fl := range flagNames(readFile(t, filepath.Join(root, f))) {
			k.managerFlags[fl] = true
		}
	}
	for fl := range flagNames(readFile(t, filepath.Join(root, "victim/config.go"))) {
		k.victimFlags[fl] = true
	}
	if k.commands["victim"] != nil {
		for fl := range k.victimFlags {
			k.commands["victim"][fl] = true
		}
	}
	for _, want := range []string{"run", "validate", "compare", "sweep", "report", "victim"} {
		if k.commands[want] == nil {
			t.Fatalf("main.go has no command %q: the parser of the dispatcher is out of step", want)
		}
	}
	if !k.managerFlags["scrape-via"] || !k.victimFlags["role"] || !k.makeTargets["test"] {
		t.Fatalf("flag or target parsing is out of step with the source: %v %v", k.managerFlags, k.makeTargets)
	}
	return k
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flagNames are the names of the flags a Go file defines with the flag
// package (fs.StringVar(&x, "name", …), flag.Bool("name", …), fs.Func(…)).
func flagNames(src string) map[string]bool {
	re := regexp.MustCompile(`\.(?:String|Bool|Int|Int64|Uint|Uint64|Float64|Duration|Func|BoolFunc|Text)(?:Var)?\(\s*(?:&?[\w.\[\]]+,\s*)?"([\w-]+)"`)
	out := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		out[m[1]] = true
	}
	return out
}

// makeTargets are the Makefile's explicit targets.
func makeTargets(t testing.TB, path string) map[string]bool {
	out := map[string]bool{}
	rule := regexp.MustCompile(`^([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)*)\s*&?::?(?:[^=]|$)`)
	for _, line := range strings.Split(readFile(t, path), "\n") {
		if m := rule.FindStringSubmatch(line); m != nil {
			for _, n := range strings.Fields(m[1]) {
				out[n] = true
			}
		}
		if rest, ok := strings.CutPrefix(line, ".PHONY:"); ok {
			for _, n := range strings.Fields(rest) {
				out[n] = true
			}
		}
	}
	return out
}

// crdFields are every spec.… and status.… path of the Experiment CRD, Chaos
// Mesh's nested fields included; a list's elements are written [].
func crdFields(t testing.TB, path string) map[string]bool {
	var crd apiextv1.CustomResourceDefinition
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &crd); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(prefix string, s apiextv1.JSONSchemaProps)
	walk = func(prefix string, s apiextv1.JSONSchemaProps) {
		out[prefix] = true
		for name, f := range s.Properties {
			walk(prefix+"."+name, f)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(prefix+"[]", *s.Items.Schema)
		}
	}
	root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	walk("spec", root.Properties["spec"])
	walk("status", root.Properties["status"])
	return out
}

// sweepFields are the Sweep file's spec paths, from the JSON tags of the
// Spec and Axis structs.
func sweepFields(t testing.TB, path string) map[string]bool {
	src := readFile(t, path)
	body := func(typ string) string {
		m := regexp.MustCompile(`(?s)\ntype ` + typ + ` struct \{(.*?)\n\}`).FindStringSubmatch(src)
		if m == nil {
			t.Fatalf("%s: no struct %s", path, typ)
		}
		return m[1]
	}
	tag := regexp.MustCompile("json:\"([\\w]+)")
	out := map[string]bool{"spec": true}
	for _, m := range tag.FindAllStringSubmatch(body("Spec"), -1) {
		out["spec."+m[1]] = true
	}
	for _, m := range tag.FindAllStringSubmatch(body("Axis"), -1) {
		out["spec.axes[]."+m[1]] = true
	}
	return out
}

// pages are README.md and every Markdown file under docs/.
func pages(t testing.TB) []string {
	out := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	fence      = regexp.MustCompile("(?ms)^[ \t]*```[^\n]*\n(.*?)^[ \t]*```")
	inlineCode = regexp.MustCompile("`([^`\n]+)`")
	link       = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	segmentSep = regexp.MustCompile(`\s*(?:&&|\|\||[|;]|\s#)\s*`)
	cliCall    = regexp.MustCompile(`^(?:\$\s+)?(?:sudo\s+)?(?:go run\s+)?(?:[\w.-]*/)*cascadelab\s+([a-z][\w-]*)(.*)`)
	makeCall   = regexp.MustCompile(`(?:^|\s)make((?:\s+[^\s]+)*)`)
	flagTok    = regexp.MustCompile(`(?:^|\s)--?([a-zA-Z][\w-]*)`)
	repoPath   = regexp.MustCompile(`(?:^|[\s(\x60'"=:\[])(?:\./|\.\./)*((?:cmd|docs|operator|victim|manifests|experiments|hack|test|internal|dashboards|testdata|seed|\.ci)/[\w./*-]*|Makefile|kind-config\.yaml)`)
	fieldPath  = regexp.MustCompile(`(?:^|[^\w.])\.?((?:spec|status)(?:\.[A-Za-z]\w*(?:\[[^\]\s]*\])?)+)`)
	workLog    = regexp.MustCompile(`(?i)\b(?:issue|PR|pull\s+request)\s*#?\d+\b|(?:^|\s)#\d{1,4}\b|\bthe\s+lead\b|\bthis\s+session\b|\bhelper\s+engineer\b`)
)

// checkPage returns the problems of one page; name is its path from the
// repository root.
func checkPage(k *knowledge, name, text string) []string {
	var probs []string
	bad := func(f string, a ...any) { probs = append(probs, name+": "+fmt.Sprintf(f, a...)) }

	// Code: fenced blocks line by line, then inline spans outside them.
	var code []string
	for _, m := range fence.FindAllStringSubmatch(text, -1) {
		lines := strings.Split(m[1], "\n")
		for i := 0; i < len(lines); i++ { // join continued shell lines
			l := lines[i]
			for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
				i++
				l = strings.TrimSuffix(l, `\`) + " " + lines[i]
			}
			code = append(code, l)
		}
	}
	prose := fence.ReplaceAllString(text, "")
	for _, m := range inlineCode.FindAllStringSubmatch(prose, -1) {
		code = append(code, m[1])
	}

	for _, c := range code {
		for _, seg := range segmentSep.Split(c, -1) {
			seg = strings.TrimSpace(seg)
			if m := makeCall.FindStringSubmatch(seg); m != nil && (strings.HasPrefix(seg, "make") || strings.Contains(seg, "sudo make")) {
				for _, tok := range strings.Fields(m[1]) {
					if strings.Contains(tok, "=") || strings.HasPrefix(tok, "-") {
						continue
					}
					if !k.makeTargets[tok] && regexp.MustCompile(`^[a-z][\w-]*$`).MatchString(tok) {
						bad("`make %s`: no such target in the Makefile", tok)
					}
				}
			}
			if m := cliCall.FindStringSubmatch(seg); m != nil && !strings.Contains(seg, "cascadelab.dev") {
				flags, ok := k.commands[m[1]]
				if !ok {
					bad("`cascadelab %s`: no such command (cmd/cascadelab/main.go)", m[1])
					continue
				}
				for _, f := range flagTok.FindAllStringSubmatch(m[2], -1) {
					if !flags[f[1]] {
						bad("`cascadelab %s --%s`: no such flag", m[1], f[1])
					}
				}
				continue
			}
			switch {
			case strings.Contains(seg, "cmd/manager") || strings.Contains(seg, "bin/manager") || strings.HasPrefix(seg, "manager "):
				_, after, _ := strings.Cut(seg, "manager")
				for _, f := range flagTok.FindAllStringSubmatch(after, -1) {
					if !k.managerFlags[f[1]] {
						bad("manager flag --%s: not defined in operator/cmd/manager", f[1])
					}
				}
			case strings.Contains(seg, "cmd/victim") || strings.Contains(seg, "bin/victim"):
				_, after, _ := strings.Cut(seg, "victim ")
				for _, f := range flagTok.FindAllStringSubmatch(after, -1) {
					if !k.victimFlags[f[1]] {
						bad("victim flag --%s: not defined in victim/config.go", f[1])
					}
				}
			case strings.HasPrefix(seg, "--"):
				// A flag named on its own: it must be someone's.
				f := flagTok.FindStringSubmatch(seg)[1]
				known := k.managerFlags[f] || k.victimFlags[f] || externalFlags[f]
				for _, flags := range k.commands {
					known = known || flags[f]
				}
				if !known {
					bad("flag --%s: no cascadelab command, manager or victim defines it", f)
				}
			}
		}
		for _, m := range fieldPath.FindAllStringSubmatch(c, -1) {
			p := regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(m[1], "[]")
			if !k.fields[p] && !k.fields[strings.TrimSuffix(p, "[]")] {
				bad("field %s: not in the Experiment CRD (manifests/crd/bases) nor the Sweep file", m[1])
			}
		}
	}

	// Paths anywhere on the page, and relative link targets.
	for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
		p := strings.TrimRight(m[1], ".,:;")
		if strings.ContainsAny(p, "…<>{}$") || strings.HasSuffix(p, "/.") || goSymbol(p) {
			continue
		}
		if !k.exists(p) {
			bad("path %s: no such file or directory in the repository", p)
		}
	}
	for _, m := range link.FindAllStringSubmatch(prose, -1) {
		target, _, _ := strings.Cut(m[1], "#")
		if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		p := filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(name), target)))
		if !k.exists(p) {
			bad("link %s: %s does not exist", m[1], p)
		}
	}
	for _, m := range workLog.FindAllString(text, -1) {
		bad("%q: the guide names no issues and keeps no work log", strings.TrimSpace(m))
	}
	return probs
}

// goSymbol tells a Go function named with its package path
// (internal/poll.runtime_pollWait) from a file: what follows the last dot
// is no file extension.
func goSymbol(p string) bool {
	base := p[strings.LastIndex(p, "/")+1:]
	dot := strings.LastIndex(base, ".")
	if dot < 0 {
		return false
	}
	switch base[dot+1:] {
	case "", "md", "go", "mod", "sum", "yaml", "yml", "json", "sh", "txt", "html", "csv", "xml", "js", "css", "tmpl":
		return false
	}
	return true
}

// TestDocsNameWhatExists checks every page against the code.
func TestDocsNameWhatExists(t *testing.T) {
	k := load(t)
	var all []string
	for _, p := range pages(t) {
		all = append(all, checkPage(k, p, readFile(t, filepath.Join(root, p)))...)
	}
	sort.Strings(all)
	for _, p := range all {
		t.Error(p)
	}
}

// TestCheckerCatchesPlantedNames: a page naming one thing of each kind that
// does not exist gets one problem for each.
func TestCheckerCatchesPlantedNames(t *testing.T) {
	k := load(t)
	page := "# A page\n\n```sh\nmake kind-up\nmake drill-everything LAB=node\n" +
		"go run ./cmd/cascadelab run experiments/map-panic-cascade.yaml --report-dir r --colour\n" +
		"cascadelab render report.json\n" +
		"go run ./operator/cmd/manager --scrape-via=apiserver --scrape-through=proxy\n" +
		"bin/victim --role=orders --cache-size=3\n```\n\n" +
		"Set `spec.load.rate` and `spec.load.burst`; see `status.verdict`, `spec.faults[slow-ledger].networkChaos.delay.latency`.\n" +
		"Read docs/how-to/nowhere.md and [this](../reference/missing.md); `--no-such-flag` alone. Fixed in issue 12.\n"
	got := checkPage(k, "docs/tutorials/planted.md", page)
	want := []string{"drill-everything", "--colour", "cascadelab render", "--scrape-through", "--cache-size",
		"spec.load.burst", "docs/how-to/nowhere.md", "docs/reference/missing.md", "--no-such-flag", "issue 12"}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.Contains(g, w)
		}
		if !found {
			t.Errorf("planted %q not reported", w)
		}
	}
}

// metricName is a Prometheus metric of the kit's (or one it reads) named in
// a code span.
var metricName = regexp.MustCompile(`^(?:cascadelab|victim|loadgen|gateway|chaos_daemon|http_client|http_request|http_requests)_[a-z_]*[a-z]$`)

// TestMetricsNamedExist: every metric a page names in a code span is a
// string literal in the Go source under victim/ or operator/ (where it is
// defined, or parsed from Chaos Mesh's chaos-daemon).
func TestMetricsNamedExist(t *testing.T) {
	var src strings.Builder
	for _, dir := range []string{"victim", "operator"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				src.WriteString(readFile(t, p))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	code := src.String()
	for _, page := range pages(t) {
		text := readFile(t, filepath.Join(root, page))
		for _, m := range inlineCode.FindAllStringSubmatch(text, -1) {
			name, _, _ := strings.Cut(m[1], "{")
			if !metricName.MatchString(name) {
				continue
			}
			base := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				base = strings.TrimSuffix(base, suf)
			}
			if !strings.Contains(code, `"`+base+`"`) && !strings.Contains(code, `"`+name+`"`) {
				t.Errorf("%s: metric %s is defined or read nowhere under victim/ or operator/", page, name)
			}
		}
	}
}

// TestEveryFindingTypeIsDocumented: docs/reference/findings.md names every
// finding type operator/api/v1alpha1 defines, and no other.
func TestEveryFindingTypeIsDocumented(t *testing.T) {
	src := readFile(t, filepath.Join(root, "operator/api/v1alpha1/experiment_status.go"))
	page := readFile(t, filepath.Join(root, "docs/reference/findings.md"))
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`FindingType\s*=\s*"(\w+)"`).FindAllStringSubmatch(src, -1) {
		defined[m[1]] = true
		if !strings.Contains(page, "| `"+m[1]+"` |") {
			t.Errorf("finding type %s is not in a table row of docs/reference/findings.md", m[1])
		}
	}
	if len(defined) < 10 {
		t.Fatalf("found only %d finding types in experiment_status.go: the pattern is out of step", len(defined))
	}
	// The finding tables run from "## Breach findings" to "## Fault effects".
	start, end := strings.Index(page, "## Breach findings"), strings.Index(page, "## Fault effects")
	if start < 0 || end < start {
		t.Fatal("docs/reference/findings.md lacks its Breach findings … Fault effects sections")
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z]\\w+)` \\|").FindAllStringSubmatch(page[start:end], -1) {
		if !defined[m[1]] {
			t.Errorf("docs/reference/findings.md documents %s, which is no finding type", m[1])
		}
	}
}

// TestExperimentReferenceIsGenerated: docs/reference/experiment.md, cli.md
// and manager-flags.md are what `go run ./hack/docgen` writes from the CRD,
// the Sweep types and the flag definitions.
func TestExperimentReferenceIsGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hack/docgen")
	}
	cmd := exec.Command("go", "run", "./hack/docgen", "-check")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go run ./hack/docgen -check: %v\n%s", err, out)
	}
}
