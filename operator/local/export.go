package local

import (
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// Toxic is one toxiproxy toxic in the JSON form toxiproxy's
// ToxicCollection.AddToxicJson reads. Toxics leaves Name and Stream empty.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// Toxics translates a NetworkChaos action into the toxiproxy toxics the
// local backend uses for it (see toxicsFor for the mapping and its
// approximations). It is exported for the operator's tests, whose
// chaos-daemon stand-in applies the same faults as this backend.
func Toxics(spec *chaosv1alpha1.NetworkChaosSpec) ([]Toxic, error) {
	ts, err := toxicsFor(spec)
	if err != nil {
		return nil, err
	}
	out := make([]Toxic, len(ts))
	for i, t := range ts {
		out[i] = Toxic(t)
	}
	return out, nil
}

// Streams returns the toxiproxy streams ("upstream": what the client
// sends, "downstream": what the server sends) that a NetworkChaos with
// direction dir affects on one client → server edge, with the same
// semantics as the local backend (see streamsFor). clientS and serverS tell
// whether each end is among the selected pods; withTarget whether the
// NetworkChaos has a target, and then clientT and serverT whether each end
// is among the target pods.
func Streams(dir chaosv1alpha1.Direction, clientS, serverS, withTarget, clientT, serverT bool) []string {
	c, s := &pod{}, &pod{}
	e := &edge{client: c, server: s}
	sel := map[*pod]bool{c: clientS, s: serverS}
	var tgt map[*pod]bool
	if withTarget {
		tgt = map[*pod]bool{c: clientT, s: serverT}
	}
	return streamsFor(e, dir, sel, tgt)
}
