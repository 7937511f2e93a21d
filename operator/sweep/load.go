package sweep

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// MaxFileSize is the largest sweep file Load accepts.
const MaxFileSize = 1 << 20

// durationRE is the API's form of a duration (no sign, no "µs").
var durationRE = regexp.MustCompile(`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`)

// LoadFile reads a sweep file with Load and resolves spec.experiment
// against the file's directory.
func LoadFile(path string) (*Sweep, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	s, err := Load(data)
	if err != nil {
		return nil, err
	}
	if e := s.Spec.Experiment; !filepath.IsAbs(e) {
		s.Spec.Experiment = filepath.Join(filepath.Dir(path), e)
	}
	return s, nil
}

// Load decodes one YAML (or JSON) document into a Sweep, strictly (an
// unknown or duplicate field is an error naming its path), and validates
// it. Errors are Errors (field paths) when the document decoded.
func Load(data []byte) (*Sweep, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
	}
	doc, err := onlyDocument(data)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var head struct {
		APIVersion any `json:"apiVersion"`
		Kind       any `json:"kind"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &head); err != nil {
		return nil, fmt.Errorf("document is not an object: %v", err)
	}
	if av, _ := head.APIVersion.(string); av != v1alpha1.GroupVersion.String() {
		return nil, Errors{{"apiVersion", fmt.Sprintf("must be %q, not %q", v1alpha1.GroupVersion.String(), fmt.Sprint(head.APIVersion))}}
	}
	if k, _ := head.Kind.(string); k != Kind {
		return nil, Errors{{"kind", fmt.Sprintf("must be %q, not %q", Kind, fmt.Sprint(head.Kind))}}
	}
	var s Sweep
	strict, err := sigsjson.UnmarshalStrict(js, &s)
	if err != nil {
		return nil, jsonError(err)
	}
	if len(strict) > 0 {
		var errs Errors
		for _, e := range strict {
			errs = append(errs, Error{Msg: e.Error()})
		}
		return nil, errs
	}
	if errs := Validate(&s); len(errs) > 0 {
		return nil, errs
	}
	return &s, nil
}

// onlyDocument returns the one non-blank YAML document of data.
func onlyDocument(data []byte) ([]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var found []byte
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if v1alpha1.IsBlankYAML(doc) {
			continue
		}
		if found != nil {
			return nil, errors.New("more than one document: a sweep file holds one Sweep")
		}
		found = doc
	}
	if found == nil {
		return nil, errors.New("no sweep in file: it is empty or holds only comments")
	}
	return found, nil
}

// jsonError names the JSON field of a type error instead of the Go one.
func jsonError(err error) error {
	if field, msg, ok := v1alpha1.FieldTypeError(err); ok {
		return Errors{{field, msg}}
	}
	return err
}
