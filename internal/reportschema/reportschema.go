// Package reportschema checks a report.json against its published JSON
// Schema, docs/report.schema.json, with a maintained JSON Schema validator
// (santhosh-tekuri/jsonschema, draft 2020-12). Tests that write reports
// call it, so the schema and the code cannot drift apart unseen.
package reportschema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Path is the schema's file, found from this package's source directory.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "report.schema.json")
}

var (
	once     sync.Once
	compiled *jsonschema.Schema
	errLoad  error
)

func load() (*jsonschema.Schema, error) {
	once.Do(func() {
		b, err := os.ReadFile(Path())
		if err != nil {
			errLoad = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			errLoad = fmt.Errorf("%s: %w", Path(), err)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource("report.schema.json", doc); err != nil {
			errLoad = err
			return
		}
		compiled, errLoad = c.Compile("report.schema.json")
	})
	return compiled, errLoad
}

// Validate checks one report.json document against the schema; the error
// lists every violation with its JSON pointer.
func Validate(data []byte) error {
	s, err := load()
	if err != nil {
		return fmt.Errorf("report schema: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("report.json: %w", err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("report.json does not match %s: %v", filepath.Base(Path()), err)
	}
	return nil
}

// ValidateFile is Validate for a file.
func ValidateFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return Validate(b)
}
