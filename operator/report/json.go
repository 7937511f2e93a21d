package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File names written by WriteFiles.
const (
	JSONFile     = "report.json"
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
)

// WriteJSON writes r as indented JSON, the format ReadJSON reads back.
func WriteJSON(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report written by WriteJSON. It rejects empty input,
// malformed JSON, trailing data and a report without a
// name or a verdict, so that `cascadelab compare` fails clearly on a file
// that is not a report.
func ReadJSON(rd io.Reader) (*Report, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("report: read: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("report: empty input, expected a report.json")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var r Report
	if err := dec.Decode(&r); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(data, syn.Offset)
			return nil, fmt.Errorf("report: invalid JSON at line %d, column %d: %w", line, col, err)
		}
		return nil, fmt.Errorf("report: not a cascadelab report: %w", err)
	}
	if dec.More() {
		return nil, errors.New("report: trailing data after the report")
	}
	if r.Name == "" || r.Verdict == "" {
		return nil, errors.New("report: not a cascadelab report: missing name or verdict")
	}
	return &r, nil
}

// WriteFiles writes report.json, report.md and report.html into dir,
// creating it if needed. Each file is written to a temporary name first and
// renamed, so a reader never sees half a report.
func WriteFiles(dir string, r *Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	writers := []struct {
		name  string
		write func(io.Writer, *Report) error
	}{{JSONFile, WriteJSON}, {MarkdownFile, WriteMarkdown}, {HTMLFile, WriteHTML}}
	var errs []error
	for _, wr := range writers {
		var buf bytes.Buffer
		if err := wr.write(&buf, r); err != nil {
			errs = append(errs, fmt.Errorf("report: %s: %w", wr.name, err))
			continue
		}
		if err := writeAtomic(filepath.Join(dir, wr.name), buf.Bytes()); err != nil {
			errs = append(errs, fmt.Errorf("report: %w", err))
		}
	}
	return errors.Join(errs...)
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(off, int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
