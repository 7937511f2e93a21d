package leakscan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
	"github.com/maruel/panicparse/v2/stack"
)

// Defaults of a Scanner.
const (
	// DefaultPause is the time between the two looks at the dump: about
	// goleak.Find's own retry window, as the victim's re-check.
	DefaultPause = 500 * time.Millisecond
	// DefaultMaxBytes bounds one dump (about 10 k goroutines of ordinary
	// depth); a longer dump is not judged.
	DefaultMaxBytes = 16 << 20
)

// LeakProfile is the name of Go's goroutine leak profile in net/http/pprof.
const LeakProfile = "goroutineleak"

// UnavailableError says the target does not serve a signal's path.
type UnavailableError struct {
	// Path is the path asked for, Status the answer.
	Path, Status string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s not served (%s)", e.Path, e.Status)
}

// Scanner scans targets' goroutine dumps. It remembers, per process
// instance, the goroutines of its first scan. It is safe for concurrent use.
type Scanner struct {
	client   *http.Client
	pause    time.Duration
	maxBytes int64
	ignore   map[string]bool

	mu       sync.Mutex
	baseline map[string]map[int]bool // by process key: goroutine IDs
}

// Option configures New.
type Option func(*Scanner)

// WithHTTPClient sets the client (a copy of it that follows no redirect).
func WithHTTPClient(c *http.Client) Option { return func(s *Scanner) { s.client = c } }

// WithPause sets the time between the dump's two looks (DefaultPause).
func WithPause(d time.Duration) Option { return func(s *Scanner) { s.pause = d } }

// WithMaxBytes bounds one dump (DefaultMaxBytes).
func WithMaxBytes(n int64) Option { return func(s *Scanner) { s.maxBytes = n } }

// IgnoreFunctions ignores goroutines with any of the named functions
// (package-qualified, as in a stack trace) on their stacks, beside
// ServerIgnores.
func IgnoreFunctions(fns ...string) Option {
	return func(s *Scanner) {
		for _, f := range fns {
			s.ignore[f] = true
		}
	}
}

// New returns a Scanner.
func New(opts ...Option) *Scanner {
	s := &Scanner{pause: DefaultPause, maxBytes: DefaultMaxBytes, ignore: map[string]bool{}, baseline: map[string]map[int]bool{}}
	for _, f := range ServerIgnores {
		s.ignore[f] = true
	}
	for _, o := range opts {
		o(s)
	}
	s.client = observe.WithoutRedirects(s.client)
	return s
}

// CloseIdleConnections closes the scanner's idle connections.
func (s *Scanner) CloseIdleConnections() { s.client.CloseIdleConnections() }

// Scan reads the leak profile next to goroutinesPath (its directory +
// "goroutineleak") and, when the target does not serve it, the goroutine
// dump at goroutinesPath twice; key names the process instance (its first
// scan is its baseline). An *UnavailableError says the dump's path is not
// served.
func (s *Scanner) Scan(ctx context.Context, key, baseURL, goroutinesPath string) (observe.LeakReport, error) {
	base := strings.TrimRight(baseURL, "/")
	leakPath := path.Join(path.Dir(goroutinesPath), LeakProfile)
	if gs, err := s.dump(ctx, base, leakPath); err == nil {
		return proven(gs, leakPath), nil
	} else if !isUnavailable(err) {
		return observe.LeakReport{}, err
	}
	first, err := s.dump(ctx, base, goroutinesPath)
	if err != nil {
		return observe.LeakReport{}, err
	}
	s.mu.Lock()
	known, seen := s.baseline[key]
	if !seen {
		known = map[int]bool{}
		for _, g := range first {
			known[g.ID] = true
		}
		s.baseline[key] = known
	}
	s.mu.Unlock()
	cands := map[int]*stack.Goroutine{}
	for _, g := range first {
		if !known[g.ID] && s.candidate(g) {
			cands[g.ID] = g
		}
	}
	if len(cands) == 0 {
		return observe.LeakReport{Groups: []observe.LeakGroup{}}, nil
	}
	select {
	case <-ctx.Done():
		return observe.LeakReport{}, context.Cause(ctx)
	case <-time.After(s.pause):
	}
	second, err := s.dump(ctx, base, goroutinesPath)
	if err != nil {
		return observe.LeakReport{}, err
	}
	var still []*stack.Goroutine
	for _, g := range second {
		if c, ok := cands[g.ID]; ok && sameWait(c, g) {
			still = append(still, g)
		}
	}
	why := fmt.Sprintf("blocked on the same operation in two dumps of %s %s apart", goroutinesPath, s.pause)
	return group(still, why), nil
}

// dump reads path?debug=2 and parses every goroutine in it.
func (s *Scanner) dump(ctx context.Context, base, p string) ([]*stack.Goroutine, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p+"?debug=2", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, &UnavailableError{Path: p, Status: resp.Status}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", p, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", p, err)
	}
	if int64(len(body)) > s.maxBytes {
		return nil, fmt.Errorf("GET %s: dump larger than %d bytes, not judged", p, s.maxBytes)
	}
	snap, _, err := stack.ScanSnapshot(bytes.NewReader(body), io.Discard, &stack.Opts{})
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("GET %s: parsing the dump: %w", p, err)
	}
	if snap == nil || len(snap.Goroutines) == 0 {
		return nil, fmt.Errorf("GET %s: no goroutine dump in the answer", p)
	}
	return snap.Goroutines, nil
}

func isUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}
