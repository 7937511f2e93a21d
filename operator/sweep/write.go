package sweep

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Files written by WriteFiles.
const (
	JSONFile     = "sweep.json"
	CSVFile      = "sweep.csv"
	MarkdownFile = "sweep.md"
	HTMLFile     = "sweep.html"
)

// WriteFiles writes sweep.json, sweep.csv, sweep.md and sweep.html into
// dir, each through a temporary file renamed into place. other, if not
// nil, is a second sweep drawn beside this one in sweep.html and sweep.md.
func WriteFiles(dir string, res, other *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{JSONFile, func(w io.Writer) error { return WriteJSON(w, res) }},
		{CSVFile, func(w io.Writer) error { return WriteCSV(w, res) }},
		{MarkdownFile, func(w io.Writer) error { return WriteMarkdown(w, res, other) }},
		{HTMLFile, func(w io.Writer) error { return WriteHTML(w, res, other) }},
	}
	var errs []error
	for _, f := range files {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			continue
		}
		tmp := filepath.Join(dir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WriteJSON writes res as indented JSON, the form ReadJSON reads.
func WriteJSON(w io.Writer, res *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// ReadJSON reads a sweep.json; it rejects anything else.
func ReadJSON(r io.Reader) (*Result, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var res Result
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("not a sweep.json: %w", err)
	}
	if res.Kind != ResultKind {
		return nil, fmt.Errorf("not a sweep.json: kind %q, want %q", res.Kind, ResultKind)
	}
	if len(res.Axes) == 0 || len(res.Axes) > MaxAxes {
		return nil, fmt.Errorf("not a sweep.json: %d axes", len(res.Axes))
	}
	for i, c := range res.Cells {
		if len(c.Coords) != len(res.Axes) {
			return nil, fmt.Errorf("not a sweep.json: cells[%d] has %d coordinates for %d axes", i, len(c.Coords), len(res.Axes))
		}
		for a, k := range c.Coords {
			if k < 0 || k >= len(res.Axes[a].Values) {
				return nil, fmt.Errorf("not a sweep.json: cells[%d].coords[%d] = %d is out of range", i, a, k)
			}
		}
	}
	return &res, nil
}

// ReadJSONFile reads a sweep.json file.
func ReadJSONFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadJSON(f)
}

// CSVHeader is the header row of sweep.csv after the axes' columns (one
// per axis, named by its path).
var CSVHeader = []string{
	"cell", "runs", "failed", "held", "violated", "inconclusive", "violated_share", "broke_before_faults",
	"crashed_runs", "median_first_crash_s", "median_duplicate_charges", "max_duplicate_charges",
	"median_peak_error_ratio", "median_peak_goroutines",
}

// WriteCSV writes a header row and one row per cell. Empty fields are
// figures without data (no finished run, no crash).
func WriteCSV(w io.Writer, res *Result) error {
	cw := csv.NewWriter(w)
	header := []string{}
	for _, ax := range res.Axes {
		header = append(header, ax.Path)
	}
	if err := cw.Write(append(header, CSVHeader...)); err != nil {
		return err
	}
	for _, c := range res.Cells {
		m := c.Measures
		row := append(append([]string{}, c.Values...),
			c.Name, itoa(m.Runs), itoa(m.Failed), itoa(m.Held), itoa(m.Violated), itoa(m.Inconclusive),
			num(m.ViolatedShare, 3), itoa(m.BrokeBeforeFaults), itoa(m.Crashed), num(m.MedianFirstCrash, 1),
			num(m.MedianDuplicateCharges, 1), strconv.FormatInt(m.MaxDuplicateCharges, 10),
			num(m.MedianPeakErrorRatio, 4), num(m.MedianPeakGoroutines, 0))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func itoa(n int) string { return strconv.Itoa(n) }

// num formats *v with prec decimals; "" for nil.
func num(v *float64, prec int) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', prec, 64)
}
