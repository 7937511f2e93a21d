package observe

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

const protoDelim = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

// TestParseProtobufMatchesText: a real orders process's /metrics, captured
// once as text and once as delimited protobuf (testdata), gives the same
// Sample either way, though the protobuf path skips the families it does
// not read.
func TestParseProtobufMatchesText(t *testing.T) {
	txt, err := os.ReadFile("testdata/orders_metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := os.ReadFile("testdata/orders_metrics.pb")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(bytes.NewReader(txt), "text/plain; version=0.0.4; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(bytes.NewReader(pb), protoDelim)
	if err != nil {
		t.Fatal(err)
	}
	if a.Goroutines == 0 || len(a.ServerRequests) == 0 || len(a.Upstream) == 0 || a.Role != "orders" {
		t.Fatalf("the text capture lacks what the test compares: %+v", a)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("protobuf and text differ:\n text  %+v\n proto %+v", a, b)
	}
}

// TestParseProtobufBadInput: a truncated or garbled protobuf body is an
// error, never a crash or a hang.
func TestParseProtobufBadInput(t *testing.T) {
	pb, err := os.ReadFile("testdata/orders_metrics.pb")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		"empty":     nil,
		"truncated": pb[:len(pb)/2],
		"huge":      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"garbage":   []byte("\x05\x0a\x09abc"),
	} {
		if _, err := Parse(bytes.NewReader(body), protoDelim); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// BenchmarkParse compares the two formats on the same real body.
func BenchmarkParse(b *testing.B) {
	for _, c := range []struct{ name, file, ct string }{
		{"text", "testdata/orders_metrics.txt", "text/plain; version=0.0.4"},
		{"protobuf", "testdata/orders_metrics.pb", protoDelim},
	} {
		body, err := os.ReadFile(c.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(body), c.ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
