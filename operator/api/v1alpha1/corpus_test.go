package v1alpha1_test

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// repoRoot is the repository root, found from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// badCase is one file of testdata/bad with its expectations from the header.
type badCase struct {
	name, path string
	data       []byte
	want       string // substring of the Go message (and the server's, unless wantServer)
	wantServer string
	serverSkip bool // never reaches an API server (not YAML, empty, several documents…)
}

// loadCorpus reads testdata/bad/*.yaml and their "# want:" headers, plus
// the oversize case, which is generated rather than committed.
func loadCorpus(t *testing.T) []badCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot(), "testdata", "bad", "*.yaml"))
	if err != nil || len(paths) < 30 {
		t.Fatalf("corpus: %d files, %v; want at least 30", len(paths), err)
	}
	sort.Strings(paths)
	var cases []badCase
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c := badCase{name: strings.TrimSuffix(filepath.Base(p), ".yaml"), path: p, data: data}
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, "#") {
				break
			}
			line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			switch {
			case strings.HasPrefix(line, "want:"):
				c.want = strings.TrimSpace(strings.TrimPrefix(line, "want:"))
			case strings.HasPrefix(line, "want-server:"):
				c.wantServer = strings.TrimSpace(strings.TrimPrefix(line, "want-server:"))
			case line == "server: skip":
				c.serverSkip = true
			}
		}
		if c.want == "" {
			t.Fatalf("%s: no '# want:' header", p)
		}
		if c.wantServer == "" {
			c.wantServer = c.want
		}
		cases = append(cases, c)
	}
	big := "# want: larger than\n" + strings.Repeat("#", v1alpha1.MaxFileSize) + "\n"
	cases = append(cases, badCase{name: "oversize (generated)", data: []byte(big), want: "larger than", serverSkip: true})
	return cases
}

// goCheck runs the local path (Load, SetDefaults, Validate) and returns the
// rejection message, the layer that rejected ("load" or "validate"), or "".
func goCheck(data []byte) (msg, layer string) {
	exps, err := v1alpha1.Load(data)
	if err != nil {
		return err.Error(), "load"
	}
	var msgs []string
	for i := range exps {
		v1alpha1.SetDefaults(&exps[i].Spec)
		for _, e := range v1alpha1.Validate(&exps[i]) {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 {
		return "", ""
	}
	return strings.Join(msgs, "\n"), "validate"
}

// TestBadCorpusGo checks that every file of the corpus is rejected by Load or
// Validate with a message containing its "# want:" text.
func TestBadCorpusGo(t *testing.T) {
	counts := map[string]int{}
	cases := loadCorpus(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, layer := goCheck(c.data)
			if layer == "" {
				t.Fatalf("accepted; want rejection naming %q", c.want)
			}
			counts[layer]++
			if !strings.Contains(msg, c.want) {
				t.Errorf("rejected by %s with %q; want it to mention %q", layer, msg, c.want)
			}
			// A metav1.Duration's own String is its Go struct, not "90s".
			if strings.Contains(msg, "Duration{") {
				t.Errorf("rejected by %s with %q: a duration's value shown as a Go struct", layer, msg)
			}
		})
	}
	t.Logf("corpus: %d files; rejected by Load: %d, by Validate: %d", len(cases), counts["load"], counts["validate"])
}

// goodFiles are the drills and the minimal examples, all of which must be valid.
func goodFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"experiments", filepath.Join("testdata", "good")} {
		m, _ := filepath.Glob(filepath.Join(repoRoot(), dir, "*.yaml"))
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found only %d good files", len(files))
	}
	return files
}

// TestGoodFilesValid checks that the drills load and validate cleanly.
func TestGoodFilesValid(t *testing.T) {
	for _, f := range goodFiles(t) {
		exps, err := v1alpha1.LoadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for i := range exps {
			exps[i].Default()
			if errs := v1alpha1.Validate(&exps[i]); len(errs) > 0 {
				t.Errorf("%s: %v", f, errs)
			}
		}
	}
}
