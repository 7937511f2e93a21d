package main

import (
	"bytes"
	"encoding/json"
	"github.com/cascadelab/cascadelab/internal/reportschema"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/report"
	"github.com/cascadelab/cascadelab/victim"
)

// TestMain lets the test binary stand in for the cascadelab executable: the
// local backend starts the victim as `<this executable> victim --role=…`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "victim" {
		os.Exit(victim.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cli runs the CLI in-process and returns its exit status and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateAcceptsEveryDrill(t *testing.T) {
	files, err := filepath.Glob("../../experiments/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 drills in experiments/, got %d (%v)", len(files), err)
	}
	code, out, errs := cli(t, append([]string{"validate"}, files...)...)
	if code != exitOK {
		t.Fatalf("validate exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if n := strings.Count(out, ": valid"); n != len(files) {
		t.Errorf("validate printed %d valid lines for %d files:\n%s", n, len(files), out)
	}
}

// Every file of the bad-input corpus is refused by validate and by run with
// exit status 2 and a message that carries the corpus file's `# want:` text.
func TestBadCorpusExitsTwo(t *testing.T) {
	files, err := filepath.Glob("../../testdata/bad/*.yaml")
	if err != nil || len(files) < 30 {
		t.Fatalf("want at least 30 bad inputs, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := wantLine(t, f)
			for _, args := range [][]string{{"validate", f}, {"run", f, "--report-dir", t.TempDir()}} {
				cmd := args[0]
				code, _, errs := cli(t, args...)
				if code != exitInvalid {
					t.Errorf("%s: exit %d, want %d; stderr: %s", cmd, code, exitInvalid, errs)
				}
				if want != "" && !strings.Contains(errs, want) {
					t.Errorf("%s: stderr does not mention %q:\n%s", cmd, want, errs)
				}
			}
		})
	}
}

// wantLine returns the corpus file's `# want:` text, if any.
func wantLine(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "# want:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"run"},
		{"run", "../../experiments/map-panic-cascade.yaml", "--expect", "Maybe"},
		{"run", "../../experiments/map-panic-cascade.yaml", "--sample-interval", "1ms"},
		{"validate"},
		{"compare", "one.json"},
		{"run", "does-not-exist.yaml"},
	} {
		if code, _, _ := cli(t, args...); code != exitInvalid {
			t.Errorf("%q: exit %d, want %d", args, code, exitInvalid)
		}
	}
}

// shorten rewrites a drill into a temp file with a shorter timeline.
func shorten(t *testing.T, src string, repl ...string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(repl...).Replace(string(data))
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// readReport loads report.json from dir and checks the other two files exist.
func loadReport(t *testing.T, dir string) *report.Report {
	t.Helper()
	for _, f := range []string{"report.md", "report.html"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := reportschema.Validate(data); err != nil {
		t.Error(err)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func findingTypes(r *report.Report) map[v1alpha1.FindingType]int {
	m := map[v1alpha1.FindingType]int{}
	for _, f := range r.Findings {
		m[f.Type]++
	}
	return m
}
