package observe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// pbReader reads a length-delimited protobuf stream, counting bytes.
type pbReader struct {
	br   *bufio.Reader
	read int64
}

func (p *pbReader) ReadByte() (byte, error) {
	b, err := p.br.ReadByte()
	if err == nil {
		p.read++
	}
	return b, err
}

func (p *pbReader) uvarint() (uint64, error) { return binary.ReadUvarint(p) }

func (p *pbReader) full(buf []byte) error {
	n, err := io.ReadFull(p.br, buf)
	p.read += int64(n)
	return err
}

func (p *pbReader) skip(n int64) error {
	m, err := io.CopyN(io.Discard, p.br, n)
	p.read += m
	return err
}

// parseDelimited reads a length-delimited protobuf exposition (what
// promhttp serves to a scraper that prefers it, as Prometheus does), one
// MetricFamily per message, without ever holding a whole family: a
// family's fields are read one at a time, the Metrics of the families
// Parse reads are unmarshalled one by one (each at most
// Limits.MaxLineBytes), and everything else is skipped unread.
func parseDelimited(r io.Reader, a *aggregator) error {
	p := &pbReader{br: bufio.NewReader(r)}
	var buf []byte
	var m dto.Metric
	families := 0
	for {
		size, err := p.uvarint()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("parse metrics: %w", err)
		}
		if size > uint64(a.lim.MaxBytes) {
			return tooLarge("a %d-byte metric family", size)
		}
		if families++; families > a.lim.MaxFamilies {
			return tooLarge("more than %d metric families", a.lim.MaxFamilies)
		}
		end := p.read + int64(size)
		k, named := kindNone, false
		for p.read < end {
			tag, err := p.uvarint()
			if err != nil {
				return fmt.Errorf("parse metrics: %w", noEOF(err))
			}
			num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
			switch typ {
			case protowire.VarintType:
				_, err = p.uvarint()
			case protowire.Fixed32Type:
				err = p.skip(4)
			case protowire.Fixed64Type:
				err = p.skip(8)
			case protowire.BytesType:
				var n uint64
				if n, err = p.uvarint(); err != nil {
					break
				}
				if int64(n) > end-p.read {
					return errors.New("parse metrics: a field longer than its metric family (not a MetricFamily stream?)")
				}
				switch {
				case num == 1 && !named:
					if n > 1024 {
						return tooLarge("a %d-byte metric family name", n)
					}
					buf = grow(buf, int(n))
					if err = p.full(buf); err == nil {
						named, k = true, kinds[string(buf)]
					}
				case num == 4:
					if !named {
						return errors.New("parse metrics: a metric family's series before its name")
					}
					if a.samples++; a.samples > a.lim.MaxSeries {
						return tooLarge("more than %d series", a.lim.MaxSeries)
					}
					if k == kindNone {
						err = p.skip(int64(n))
						break
					}
					if n > uint64(a.lim.MaxLineBytes) {
						return tooLarge("a %d-byte series", n)
					}
					buf = grow(buf, int(n))
					if err = p.full(buf); err != nil {
						break
					}
					proto.Reset(&m)
					if err = proto.Unmarshal(buf, &m); err == nil {
						a.protoMetric(k, &m)
					}
				default:
					err = p.skip(int64(n))
				}
			default:
				return fmt.Errorf("parse metrics: wire type %d (not a MetricFamily stream?)", typ)
			}
			if err != nil {
				return fmt.Errorf("parse metrics: %w", noEOF(err))
			}
		}
		if !named {
			return errors.New("parse metrics: a metric family without a name (not a MetricFamily stream?)")
		}
	}
	if families == 0 {
		return errors.New("parse metrics: no metric families")
	}
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// noEOF turns an EOF inside a family into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// protoMetric adds one decoded series of family k.
func (a *aggregator) protoMetric(k kind, m *dto.Metric) {
	var l labels
	le := ""
	for _, lp := range m.GetLabel() {
		a.keepLabel(lp.GetName(), []byte(lp.GetValue()), false, &l, &le)
	}
	if !k.histogram() {
		a.value(k, l, value(m))
		return
	}
	hg := m.GetHistogram()
	if hg == nil {
		return
	}
	h := a.hist(k, l)
	if h == nil {
		return
	}
	for _, b := range hg.GetBucket() {
		a.bucket(h, b.GetUpperBound(), float64(b.GetCumulativeCount()))
	}
	a.total(h, hg.GetSampleSum(), float64(hg.GetSampleCount()))
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
