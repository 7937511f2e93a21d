package observe

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Limits bound what Parse reads and keeps of one exposition. The pods the
// manager scrapes are not the manager's: a target may serve a body of any
// size, any number of families and series, and label values of any length
// and variety. Parse streams the body (one text line or one protobuf
// Metric at a time, never a whole family) and keeps only the sums a Sample
// holds, so its memory is bounded by these limits whatever the body holds.
type Limits struct {
	// MaxBytes is the most of a body read; a longer body fails the parse.
	MaxBytes int64
	// MaxLineBytes bounds one line of the text formats and one encoded
	// Metric of the protobuf format; a longer one fails the parse.
	MaxLineBytes int
	// MaxFamilies bounds the metric families of a body; more fail the parse.
	MaxFamilies int
	// MaxSeries bounds the samples of a body (a text line, or a protobuf
	// Metric); more fail the parse.
	MaxSeries int
	// MaxLabelValue bounds the label values kept (role, code, upstream):
	// a longer one is cut to this many bytes, and a note says so.
	MaxLabelValue int
	// MaxUpstreams bounds the distinct upstream label values kept per
	// body: the series of any further upstream are folded into the edge
	// OtherLabel, and a note says how many.
	MaxUpstreams int
	// MaxCodes bounds the distinct code label values kept per counter:
	// further codes are folded into OtherLabel, with a note.
	MaxCodes int
	// MaxBuckets bounds the distinct bucket bounds kept per histogram:
	// further bounds are dropped, with a note.
	MaxBuckets int
}

// DefaultLimits are Parse's limits unless told otherwise: far above what a
// victim serves (a few hundred series, two upstreams) and what a busy
// service's /metrics usually holds, and small enough that sixteen parses
// at once stay within a few MiB.
var DefaultLimits = Limits{
	MaxBytes:      16 << 20,
	MaxLineBytes:  64 << 10,
	MaxFamilies:   10_000,
	MaxSeries:     200_000,
	MaxLabelValue: 256,
	MaxUpstreams:  32,
	MaxCodes:      64,
	MaxBuckets:    128,
}

// OtherLabel is the upstream (in Sample.Upstream) or code (in a requests
// map) that series beyond Limits.MaxUpstreams or Limits.MaxCodes are
// folded into.
const OtherLabel = "other"

// MaxScrapeTimeout caps a Scraper's timeout (WithTimeout), whatever the
// injected latency asks for: one target never holds a scrape longer.
const MaxScrapeTimeout = 20 * time.Second

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	pick(&l.MaxLineBytes, d.MaxLineBytes)
	pick(&l.MaxFamilies, d.MaxFamilies)
	pick(&l.MaxSeries, d.MaxSeries)
	pick(&l.MaxLabelValue, d.MaxLabelValue)
	pick(&l.MaxUpstreams, d.MaxUpstreams)
	pick(&l.MaxCodes, d.MaxCodes)
	pick(&l.MaxBuckets, d.MaxBuckets)
	return l
}

// ParseOption configures Parse.
type ParseOption func(*Limits)

// WithLimits replaces Parse's limits (zero fields keep their defaults).
func WithLimits(l Limits) ParseOption { return func(p *Limits) { *p = l } }

// ErrTooLarge is wrapped by the errors of a body beyond its Limits.
var ErrTooLarge = errors.New("beyond the parse limits")

// tooLarge is an error wrapping ErrTooLarge.
func tooLarge(format string, args ...any) error {
	return fmt.Errorf("parse metrics: %s (%w)", fmt.Sprintf(format, args...), ErrTooLarge)
}

// cappedReader reads at most max bytes and fails the read after them.
type cappedReader struct {
	r    io.Reader
	left int64
	max  int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a body of exactly max bytes from a longer one.
		var b [1]byte
		if n, _ := c.r.Read(b[:]); n > 0 {
			return 0, tooLarge("a body larger than %d bytes", c.max)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
