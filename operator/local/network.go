package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// edge is one service-to-service connection path, client → server, through
// its own toxiproxy proxy so that faults can be per pod.
type edge struct {
	client, server *pod
	proxy          *toxiproxy.Proxy
}

// url is the base URL the client uses to reach the server.
func (e *edge) url() string { return "http://" + e.proxy.Listen }

// toxic is one toxic added to one edge, so it can be removed again.
type toxic struct {
	edge *edge
	name string
}

// Toxiproxy's streams: upstream carries what the client sends (requests),
// downstream what the server sends (responses).
const (
	upstream   = "upstream"
	downstream = "downstream"
)

// streamsFor maps Chaos Mesh's direction and target onto the streams of
// edge e, given the selected pods S and the target pods T (nil without a
// target). Like netem on S's interface:
//
//   - no target: every edge touching S; direction "to" (default) affects what
//     S sends (responses where S serves, requests where S calls), "from" what
//     S receives, "both" both;
//   - with a target: only edges between S and T; "to" affects S→T traffic,
//     "from" T→S, "both" both.
func streamsFor(e *edge, dir chaosv1alpha1.Direction, s, t map[*pod]bool) []string {
	clientS, serverS := s[e.client], s[e.server]
	if t != nil {
		clientS, serverS = clientS && t[e.server], serverS && t[e.client]
	}
	var sends []string // streams S sends on this edge
	if clientS {
		sends = append(sends, upstream)
	}
	if serverS {
		sends = append(sends, downstream)
	}
	if len(sends) == 0 {
		return nil
	}
	switch dir {
	case chaosv1alpha1.From:
		if clientS && serverS {
			return []string{upstream, downstream}
		}
		return []string{opposite(sends[0])}
	case chaosv1alpha1.Both:
		return []string{upstream, downstream}
	}
	return sends
}

func opposite(s string) string {
	if s == upstream {
		return downstream
	}
	return upstream
}

// toxicSpec is one toxiproxy toxic in the JSON form AddToxicJson reads.
type toxicSpec struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// toxicsFor translates a NetworkChaos action into toxiproxy toxics (before
// name and stream are set):
//
//   - delay: latency{latency, jitter} (milliseconds; toxiproxy's jitter is
//     uniform ±jitter, as netem's without a distribution). Correlation and
//     reorder are not supported.
//   - loss: an approximation. Toxiproxy works on TCP streams, not packets, so
//     a loss of P % black-holes each connection stream with probability P/100
//     (a "timeout" toxic with toxicity P/100 that drops the data without
//     closing): a hit request stalls until its caller's timeout, like TCP
//     retransmitting into a dead path, and the other connections pass
//     untouched. 100 % equals partition/drop. Real netem loss of a few percent
//     mostly adds retransmission delay (≥200 ms RTO) rather than failures, so
//     this overstates the harm per hit connection and is connection-granular
//     (a kept-alive connection stays hit until its caller closes it).
//     Correlation is not supported. The draw uses toxiproxy's global random
//     source, so it is not reproducible with WithSeed.
//   - partition: partitionBehavior drop (default) → "timeout" toxic with no
//     timeout (data silently dropped); reject → "reset_peer" (TCP reset on the
//     first data). New connections are still accepted by the proxy (the
//     handshake happens locally), then black-holed or reset.
//   - bandwidth: "bandwidth"{rate} in KB/s (1000 bytes, rounded up, ≥1).
//     limit and buffer (tc's queue sizes, required by Chaos Mesh's schema) have
//     no toxiproxy equivalent and do not change the outcome; peakrate and
//     minburst are rejected.
//   - netem: delay, loss and rate together, each as above.
func toxicsFor(nc *chaosv1alpha1.NetworkChaosSpec) ([]toxicSpec, error) {
	var out []toxicSpec
	delay := func() error {
		lat, err := time.ParseDuration(nc.Delay.Latency)
		if err != nil {
			return fmt.Errorf("delay.latency: %w", err)
		}
		jit := time.Duration(0)
		if nc.Delay.Jitter != "" {
			if jit, err = time.ParseDuration(nc.Delay.Jitter); err != nil {
				return fmt.Errorf("delay.jitter: %w", err)
			}
		}
		out = append(out, toxicSpec{Type: "latency", Toxicity: 1, Attributes: map[string]any{
			"latency": lat.Milliseconds(), "jitter": jit.Milliseconds()}})
		return nil
	}
	loss := func() error {
		p, err := parsePercent(nc.Loss.Loss)
		if err != nil {
			return fmt.Errorf("loss.loss: %w", err)
		}
		out = append(out, toxicSpec{Type: "timeout", Toxicity: float32(p / 100), Attributes: map[string]any{"timeout": 0}})
		return nil
	}
	rate := func(s string) error {
		kbs, err := parseRate(s)
		if err != nil {
			return err
		}
		out = append(out, toxicSpec{Type: "bandwidth", Toxicity: 1, Attributes: map[string]any{"rate": kbs}})
		return nil
	}
	var err error
	switch nc.Action {
	case chaosv1alpha1.DelayAction:
		if nc.Delay == nil {
			return nil, errors.New("action delay needs delay")
		}
		err = delay()
	case chaosv1alpha1.LossAction:
		if nc.Loss == nil {
			return nil, errors.New("action loss needs loss")
		}
		err = loss()
	case chaosv1alpha1.PartitionAction:
		if nc.PartitionBehavior == chaosv1alpha1.RejectPartitionBehavior {
			out = append(out, toxicSpec{Type: "reset_peer", Toxicity: 1, Attributes: map[string]any{"timeout": 0}})
		} else {
			out = append(out, toxicSpec{Type: "timeout", Toxicity: 1, Attributes: map[string]any{"timeout": 0}})
		}
	case chaosv1alpha1.BandwidthAction:
		if nc.Bandwidth == nil {
			return nil, errors.New("action bandwidth needs bandwidth")
		}
		err = rate(nc.Bandwidth.Rate)
	case chaosv1alpha1.NetemAction:
		if nc.Delay != nil {
			err = delay()
		}
		if nc.Loss != nil && err == nil {
			err = loss()
		}
		if nc.Rate != nil && err == nil {
			err = rate(nc.Rate.Rate)
		}
		if err == nil && len(out) == 0 {
			err = errors.New("action netem needs delay, loss or rate")
		}
	default:
		return nil, fmt.Errorf("network action %q is not supported locally", nc.Action)
	}
	return out, err
}

// addToxics adds specs to the given streams of e, named after fault i.
func addToxics(e *edge, i int, streams []string, specs []toxicSpec) ([]toxic, error) {
	var added []toxic
	for _, st := range streams {
		for _, ts := range specs {
			ts.Stream = st
			ts.Name = fmt.Sprintf("fault%d-%s-%s", i, ts.Type, st)
			body, _ := json.Marshal(ts)
			if _, err := e.proxy.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
				return added, fmt.Errorf("adding %s to %s: %w", ts.Name, e.proxy.Name, err)
			}
			added = append(added, toxic{edge: e, name: ts.Name})
		}
	}
	return added, nil
}

// removeToxics removes toxics, ignoring those already gone.
func removeToxics(ctx context.Context, ts []toxic) error {
	var errs []error
	for _, t := range ts {
		if err := t.edge.proxy.Toxics.RemoveToxic(ctx, t.name); err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
			errs = append(errs, fmt.Errorf("removing %s from %s: %w", t.name, t.edge.proxy.Name, err))
		}
	}
	return errors.Join(errs...)
}

func parsePercent(s string) (float64, error) {
	p, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || p < 0 || p > 100 {
		return 0, fmt.Errorf("want a percentage from 0 to 100, got %q", s)
	}
	return p, nil
}

var rateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$`)

// parseRate turns a tc rate ("1mbps", "800kbit"; bit units are bits/s, bps
// units bytes/s, prefixes SI) into toxiproxy's KB/s, rounded up, at least 1.
func parseRate(s string) (int64, error) {
	m := rateRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return 0, fmt.Errorf("rate %q: want a number and one of bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps, tbps", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := m[2]
	mult := map[byte]float64{'k': 1e3, 'm': 1e6, 'g': 1e9, 't': 1e12}[unit[0]]
	if mult == 0 {
		mult = 1
	}
	bytesPerSec := v * mult
	if strings.HasSuffix(unit, "bit") {
		bytesPerSec /= 8
	}
	return max(1, int64(math.Ceil(bytesPerSec/1000))), nil
}
