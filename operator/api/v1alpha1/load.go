package v1alpha1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Limits of Load.
const (
	// MaxFileSize is the largest experiment file Load accepts.
	MaxFileSize = 1 << 20
	// MaxDocumentJSONSize caps one document after YAML anchors are expanded,
	// on top of the YAML parser's own alias-expansion guard.
	MaxDocumentJSONSize = 2 << 20
)

// Kind is the kind of the Experiment resource.
const Kind = "Experiment"

// LoadFile reads an experiment file with Load. The file must be at most
// MaxFileSize bytes.
func LoadFile(path string) ([]Experiment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	return Load(data)
}

// Load decodes every YAML (or JSON) document of data into an Experiment,
// the way the API server would accept it: strict (unknown or duplicate
// fields are errors naming their path), apiVersion cascadelab.dev/v1alpha1
// and kind Experiment only, durations in the schema's Go-duration form.
// It rejects data over MaxFileSize, invalid UTF-8, files with no document,
// and YAML whose anchors expand beyond MaxDocumentJSONSize. It neither
// defaults nor validates: call SetDefaults and Validate next.
func Load(data []byte) ([]Experiment, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("file is not valid UTF-8 (first invalid byte at offset %d)", invalidUTF8Offset(data))
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, errors.New("file contains a NUL byte")
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Experiment
	for n := 1; ; n++ {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if isBlank(doc) {
			continue
		}
		exp, err := decodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		out = append(out, exp)
	}
	if len(out) == 0 {
		return nil, errors.New("no experiment in file: it is empty or holds only comments")
	}
	return out, nil
}

func decodeDocument(doc []byte) (Experiment, error) {
	var exp Experiment
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return exp, err
	}
	if len(js) > MaxDocumentJSONSize {
		return exp, fmt.Errorf("document expands to more than %d bytes (YAML anchors and aliases?)", MaxDocumentJSONSize)
	}
	if bytes.HasPrefix(bytes.TrimSpace(js), []byte("null")) {
		return exp, errors.New("document is not an object")
	}
	var raw map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &raw); err != nil {
		return exp, fmt.Errorf("document is not an object: %v", err)
	}
	if av, _ := raw["apiVersion"].(string); av != GroupVersion.String() {
		return exp, fmt.Errorf("apiVersion: must be %q, not %q", GroupVersion.String(), fmt.Sprint(raw["apiVersion"]))
	}
	if k, _ := raw["kind"].(string); k != Kind {
		return exp, fmt.Errorf("kind: must be %q, not %q", Kind, fmt.Sprint(raw["kind"]))
	}
	if err := checkRaw(raw); err != nil {
		return exp, err
	}
	strict, err := sigsjson.UnmarshalStrict(js, &exp)
	if err != nil {
		return exp, cleanJSONError(err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return exp, errors.New(strings.Join(msgs, "; "))
	}
	return exp, nil
}

// cleanJSONError turns encoding/json's Go-centric type errors into ones
// naming the JSON field path.
func cleanJSONError(err error) error {
	if field, msg, ok := FieldTypeError(err); ok {
		return fmt.Errorf("%s: %s", field, msg)
	}
	return err
}

// FieldTypeError splits encoding/json's "cannot unmarshal X into Go struct
// field T.a.b of type Y" into the JSON field path ("a.b") and a message
// ("wrong type: … into Y"); ok is false for any other error. Files of other
// kinds (the sweep's) report their type errors the same way.
func FieldTypeError(err error) (field, msg string, ok bool) {
	s := err.Error()
	i := strings.Index(s, " into Go struct field ")
	if i < 0 {
		return "", "", false
	}
	what := strings.TrimPrefix(s[:i], "json: ")
	name, typ, _ := strings.Cut(s[i+len(" into Go struct field "):], " of type ")
	if dot := strings.Index(name, "."); dot >= 0 {
		name = name[dot+1:] // drop the Go type name, keep the JSON path
	}
	return name, fmt.Sprintf("wrong type: %s into %s", what, typ), true
}

// IsBlankYAML reports whether a YAML document holds nothing but comments,
// blank lines and document markers.
func IsBlankYAML(doc []byte) bool { return isBlank(doc) }

func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" && t != "..." {
			return false
		}
	}
	return true
}

func invalidUTF8Offset(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}
