package engine

import (
	"sort"
	"time"
)

// A fault's effect is its own only when no other fault could explain the
// same movement. Latency and errors travel up the call chain: a delay on
// the ledger slows orders → ledger, and so gateway → orders and the load
// generator's requests. Another fault g could explain the movement of edge
// caller → upstream when g's roles include the caller, the upstream, or a
// role the upstream calls (directly or further down), as the drill's
// records show the calls.

// faultRoles are the roles of f's targets.
func (j *judge) faultRoles(f *faultRun) map[string]bool {
	roles := map[string]bool{}
	for _, name := range f.targets {
		if t := j.targets[name]; t != nil && t.role != "" {
			roles[t.role] = true
		}
	}
	return roles
}

// ownEdge reports whether a network fault on roles (towards peers, when
// its target selector names them) acts on edge k.
func ownEdge(roles, peers map[string]bool, k edgeKey) bool {
	if len(peers) > 0 {
		return (roles[k.caller] && peers[k.upstream]) || (peers[k.caller] && roles[k.upstream])
	}
	return roles[k.caller] || roles[k.upstream]
}

// downstream maps each role to the roles it calls, directly or further
// down, as the records show.
func (j *judge) downstream() map[string]map[string]bool {
	calls := map[string]map[string]bool{}
	for _, r := range j.hist {
		for k := range r.edges {
			if calls[k.caller] == nil {
				calls[k.caller] = map[string]bool{}
			}
			calls[k.caller][k.upstream] = true
		}
	}
	out := map[string]map[string]bool{}
	for role := range calls {
		seen := map[string]bool{}
		todo := []string{role}
		for len(todo) > 0 {
			cur := todo[0]
			todo = todo[1:]
			for next := range calls[cur] {
				if !seen[next] {
					seen[next] = true
					todo = append(todo, next)
				}
			}
		}
		out[role] = seen
	}
	return out
}

// explains reports whether fault g could move edge k.
func (j *judge) explains(g *faultRun, k edgeKey, down map[string]map[string]bool) bool {
	roles := j.faultRoles(g)
	for r := range g.peers {
		roles[r] = true
	}
	if roles[k.caller] || roles[k.upstream] {
		return true
	}
	for r := range down[k.upstream] {
		if roles[r] {
			return true
		}
	}
	return false
}

// activeWindow is when fault g may move the victim: from its injection to
// its recovery (or the end of the drill) plus effectSettle; an instant
// fault's, its injection plus the settle time (the replacement coming up).
func (j *judge) activeWindow(g *faultRun) (from, to time.Duration, ok bool) {
	if g.injectedAt == nil {
		return 0, 0, false
	}
	from = *g.injectedAt
	if g.instant {
		return from, from + j.e.opts.settle, true
	}
	return from, j.e.faultEnd(g) + effectSettle, true
}

// splitOverlap sums edge k over the records of win in which no other fault
// that could explain k was active (mine) and over the others (shared),
// with the names of the faults that overlapped.
func (j *judge) splitOverlap(f *faultRun, k edgeKey, win []record, down map[string]map[string]bool) (mine, shared edgeObs, others []string) {
	type span struct {
		name     string
		from, to time.Duration
	}
	var spans []span
	for _, g := range j.e.faults {
		if g == f || !j.explains(g, k, down) {
			continue
		}
		if from, to, ok := j.activeWindow(g); ok {
			spans = append(spans, span{g.name, from, to})
		}
	}
	names := map[string]bool{}
	for _, r := range win {
		o, ok := r.edges[k]
		if !ok {
			continue
		}
		hit := false
		for _, sp := range spans {
			if r.at > sp.from && r.at <= sp.to {
				hit, names[sp.name] = true, true
			}
		}
		if hit {
			shared = shared.add(o)
		} else {
			mine = mine.add(o)
		}
	}
	for n := range names {
		others = append(others, n)
	}
	sort.Strings(others)
	return mine, shared, others
}
