package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// Node states of the topology, one per node and frame.
const (
	stateServing  = "serving"
	stateDegraded = "degraded"
	stateCrashed  = "crashed"
	stateAbsent   = "absent" // not observed at that moment
)

// topology is the drill's service graph for report.html: one node per
// observed process, laid out by role (loadgen → gateway → orders →
// ledger), the edges between them, and per frame (one per point of the
// series) each node's state and each edge's figures. The page draws it as
// SVG and a time scrubber picks the frame; without script the SVG shows
// each node's worst state over the drill.
type topology struct {
	Width  float64    `json:"width"`
	Height float64    `json:"height"`
	Nodes  []topoNode `json:"nodes"`
	Edges  []topoEdge `json:"edges"`
	// Times are the frames' offsets in seconds since the load started.
	Times []float64 `json:"times"`
	// Threshold is the error ratio above which a node or edge is degraded.
	Threshold float64 `json:"threshold"`
	// Path is the failure's path in words, first hit first.
	Path []string `json:"path"`
	// Initial is the frame the page opens on: the first crash, or else
	// the first frame a node degraded, or else the last.
	Initial int `json:"initial"`
}

// topoNode is one process.
type topoNode struct {
	ID   string  `json:"id"`
	Role string  `json:"role"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	// Domain is true when a fault targeted the node (the fault domain);
	// Faults names those faults.
	Domain bool     `json:"domain"`
	Faults []string `json:"faults,omitempty"`
	// OnPath is true when the node crashed or degraded after the first
	// fault was injected: the path the failure took.
	OnPath bool `json:"onPath"`
	// Worst is the node's worst state over the drill.
	Worst string `json:"worst"`
	// States is the node's state per frame; Faulted whether a fault was
	// active on it; Rate and Err what it served (req/s, 5xx share).
	States  []string   `json:"states"`
	Faulted []bool     `json:"faulted"`
	Rate    []*float64 `json:"rate"`
	Err     []*float64 `json:"err"`
}

// topoEdge is the calls from one process to another. The callers' metrics
// name the upstream role, not the replica, so the edges from one caller to
// each replica of a role carry the same figures.
type topoEdge struct {
	ID       string  `json:"id"`
	From, To string  `json:"-"`
	FromID   string  `json:"from"`
	ToID     string  `json:"to"`
	X1       float64 `json:"x1"`
	Y1       float64 `json:"y1"`
	X2       float64 `json:"x2"`
	Y2       float64 `json:"y2"`
	OnPath   bool    `json:"onPath"`
	Worst    bool    `json:"worst"` // errors above the threshold at some frame
	// Rate (calls/s), Err (share failed), P99 (seconds) per frame, null
	// when the caller reported nothing.
	Rate []*float64 `json:"rate"`
	Err  []*float64 `json:"err"`
	P99  []*float64 `json:"p99"`
}

// Layout of the graph, in SVG user units.
const (
	nodeW, nodeH = 150.0, 58.0
	colGap       = 380.0
	rowGap       = 96.0
	margin       = 24.0
)

// roleOrder is the columns of the graph, left to right.
var roleOrder = []string{observe.RoleLoadgen, observe.RoleGateway, observe.RoleOrders, observe.RoleLedger}

// buildTopology derives the topology from r's series, timeline and faults;
// nil when r observed no process.
func (r *Report) buildTopology() *topology {
	roles := r.nodeRoles()
	if len(roles) == 0 {
		return nil
	}
	tp := &topology{Threshold: r.errorThreshold()}
	// Columns by role; unknown roles after the known ones.
	cols := map[string][]string{}
	for name, role := range roles {
		cols[role] = append(cols[role], name)
	}
	order := append([]string(nil), roleOrder...)
	for _, role := range sortedKeys(cols) {
		if indexOf(order, role) < 0 {
			order = append(order, role)
		}
	}
	rows := 0
	for _, c := range cols {
		rows = max(rows, len(c))
	}
	height := margin*2 + float64(rows-1)*rowGap + nodeH
	pos := map[string]int{}
	col := 0
	for _, role := range order {
		names := cols[role]
		if len(names) == 0 {
			continue
		}
		sort.Slice(names, func(a, b int) bool { return natLess(names[a], names[b]) })
		top := (height - float64(len(names)-1)*rowGap - nodeH) / 2
		for i, n := range names {
			pos[n] = len(tp.Nodes)
			tp.Nodes = append(tp.Nodes, topoNode{ID: n, Role: role,
				X: margin + float64(col)*colGap, Y: top + float64(i)*rowGap})
		}
		col++
	}
	tp.Width, tp.Height = margin*2+float64(col-1)*colGap+nodeW, height

	// Edges: the victim's call chain between the roles present, and any
	// edge a caller reported beyond it.
	entry := ""
	for _, role := range roleOrder[1:] {
		if len(cols[role]) > 0 {
			entry = role
			break
		}
	}
	links := map[[2]string]bool{}
	link := func(from, toRole string) {
		for _, to := range cols[toRole] {
			if to != from {
				links[[2]string{from, to}] = true
			}
		}
	}
	for _, n := range cols[observe.RoleLoadgen] {
		link(n, entry)
	}
	for i := 1; i+1 < len(roleOrder); i++ {
		for _, n := range cols[roleOrder[i]] {
			link(n, roleOrder[i+1])
		}
	}
	for _, p := range r.Series {
		for _, e := range p.Edges {
			if _, ok := roles[e.From]; !ok {
				continue
			}
			if e.To == engine.EdgeEntry {
				link(e.From, entry)
			} else {
				link(e.From, e.To)
			}
		}
	}
	keys := make([][2]string, 0, len(links))
	for k := range links {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if pos[keys[a][0]] != pos[keys[b][0]] {
			return pos[keys[a][0]] < pos[keys[b][0]]
		}
		return pos[keys[a][1]] < pos[keys[b][1]]
	})
	for _, k := range keys {
		a, b := tp.Nodes[pos[k[0]]], tp.Nodes[pos[k[1]]]
		tp.Edges = append(tp.Edges, topoEdge{ID: k[0] + "→" + k[1], From: k[0], To: k[1], FromID: k[0], ToID: k[1],
			X1: a.X + nodeW, Y1: a.Y + nodeH/2, X2: b.X, Y2: b.Y + nodeH/2})
	}

	r.fillFrames(tp, pos, entry)
	r.markDomainAndPath(tp, pos)
	return tp
}

// nodeRoles is every observed process and its role: from the points'
// per-process figures, or (in a report written before they existed) from
// the goroutine series, the role read from the name.
func (r *Report) nodeRoles() map[string]string {
	roles := map[string]string{}
	for _, p := range r.Series {
		for name, t := range p.Targets {
			if t.Role != "" {
				roles[name] = t.Role
			}
		}
	}
	if len(roles) > 0 {
		return roles
	}
	for _, name := range r.targets() {
		roles[name] = roleFromName(name)
	}
	return roles
}

// roleFromName guesses a process's role from its name ("orders-1",
// "shop-orders-7d9f"): the last role named in it, or "process".
func roleFromName(name string) string {
	best, at := "process", -1
	for _, role := range roleOrder {
		if i := strings.LastIndex(name, role); i > at {
			best, at = role, i
		}
	}
	return best
}

// errorThreshold is the hypothesis' maxErrorRatio, the share above which
// a node or an edge counts as degraded (0.01 when unset or unreadable).
func (r *Report) errorThreshold() float64 {
	if v, err := strconv.ParseFloat(r.Spec.Hypothesis.MaxErrorRatio, 64); err == nil && v >= 0 {
		return v
	}
	return 0.01
}

// crashTimes are the offsets at which each process crashed or was killed.
func (r *Report) crashTimes() map[string][]time.Duration {
	out := map[string][]time.Duration{}
	seen := map[string]map[time.Duration]bool{}
	add := func(target string, at time.Duration) {
		if target == "" || seen[target][at] {
			return
		}
		if seen[target] == nil {
			seen[target] = map[time.Duration]bool{}
		}
		seen[target][at] = true
		out[target] = append(out[target], at)
	}
	for _, ev := range r.Timeline {
		if ev.Kind == engine.KindProcessCrashed || ev.Kind == engine.KindProcessKilled {
			add(ev.Target, ev.At)
		}
	}
	for _, f := range r.Findings {
		if f.Type == v1alpha1.FindingProcessCrashed {
			add(f.Target, f.At.Duration)
		}
	}
	// The crashes the victim's logs saw, on the drill's clock.
	for _, c := range r.Crashes {
		if c.TS > 0 && !r.StartedAt.IsZero() {
			add(c.Process, time.UnixMicro(c.TS).Sub(r.StartedAt))
		}
	}
	return out
}

// fillFrames sets every node's and edge's per-frame figures.
func (r *Report) fillFrames(tp *topology, pos map[string]int, entry string) {
	crashes := r.crashTimes()
	domains := r.faultDomains(tp)
	wins := r.windows()
	n := len(r.Series)
	tp.Times = make([]float64, n)
	prevRestarts := map[string]int32{}
	for i := range tp.Nodes {
		nd := &tp.Nodes[i]
		nd.States, nd.Faulted = make([]string, n), make([]bool, n)
		nd.Rate, nd.Err = make([]*float64, n), make([]*float64, n)
	}
	for i := range tp.Edges {
		e := &tp.Edges[i]
		e.Rate, e.Err, e.P99 = make([]*float64, n), make([]*float64, n), make([]*float64, n)
	}
	var prevAt time.Duration = -1 << 62
	for fi, p := range r.Series {
		tp.Times[fi] = p.At.Seconds()
		for i := range tp.Nodes {
			nd := &tp.Nodes[i]
			st := stateAbsent
			tpt, have := p.Targets[nd.ID]
			if _, g := p.Goroutines[nd.ID]; g && !have {
				tpt, have = engine.TargetPoint{Role: nd.Role, Up: true}, true
			}
			if have {
				st = stateServing
				if len(p.Targets) > 0 {
					nd.Rate[fi], nd.Err[fi] = fptr(tpt.RequestRate), fptr(tpt.ErrorRatio)
				}
				if tpt.ErrorRatio > tp.Threshold {
					st = stateDegraded
				}
				if !tpt.Up {
					st = stateCrashed
				}
				if pr, ok := prevRestarts[nd.ID]; ok && tpt.Restarts > pr {
					st = stateCrashed
				}
				prevRestarts[nd.ID] = tpt.Restarts
			}
			for _, c := range crashes[nd.ID] {
				if c > prevAt && c <= p.At {
					st = stateCrashed
				}
			}
			nd.States[fi] = st
			nd.Worst = worse(nd.Worst, st)
			for _, w := range wins {
				to := w.To
				if to <= w.From {
					to = w.From + 1 // an instant fault shows on its frame
				}
				// The frame covers (prevAt, p.At]: the fault was on
				// during it.
				if domains[w.Name][nd.ID] && w.From <= p.At && to > prevAt {
					nd.Faulted[fi] = true
				}
			}
		}
		for i := range tp.Edges {
			e := &tp.Edges[i]
			toRole := tp.Nodes[pos[e.To]].Role
			for _, ep := range p.Edges {
				if ep.From != e.From || !(ep.To == toRole || ep.To == engine.EdgeEntry && toRole == entry) {
					continue
				}
				e.Rate[fi], e.Err[fi] = fptr(ep.Rate), fptr(ep.ErrorRatio)
				if ep.P99 > 0 {
					e.P99[fi] = fptr(ep.P99)
				}
				if ep.ErrorRatio > tp.Threshold && ep.Rate > 0 {
					e.Worst = true
				}
			}
		}
		prevAt = p.At
	}
	if n == 0 {
		return
	}
	tp.Initial = n - 1
	first := -1
	for i := 0; i < n && first < 0; i++ {
		for _, nd := range tp.Nodes {
			if nd.States[i] == stateCrashed {
				first = i
				break
			}
		}
	}
	for i := 0; i < n && first < 0; i++ {
		for _, nd := range tp.Nodes {
			if nd.States[i] == stateDegraded {
				first = i
				break
			}
		}
	}
	if first >= 0 {
		tp.Initial = first
	}
}

// faultDomains maps each fault to the nodes it targeted: the targets its
// status names, or, without them, every node of the roles its selectors
// name (app.kubernetes.io/component); a fault whose status says it was
// never injected has none.
func (r *Report) faultDomains(tp *topology) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	nodes := map[string]bool{}
	for _, nd := range tp.Nodes {
		nodes[nd.ID] = true
	}
	for _, s := range r.Faults {
		if s.InjectedAt == nil {
			continue
		}
		for _, t := range s.Targets {
			if nodes[t] {
				if out[s.Name] == nil {
					out[s.Name] = map[string]bool{}
				}
				out[s.Name][t] = true
			}
		}
	}
	injected := map[string]bool{}
	for _, s := range r.Faults {
		injected[s.Name] = s.InjectedAt != nil
	}
	for _, f := range r.Spec.Faults {
		if len(out[f.Name]) > 0 {
			continue
		}
		if did, known := injected[f.Name]; known && !did {
			continue // never injected: no domain
		}
		var sels []map[string]string
		switch {
		case f.PodChaos != nil:
			sels = append(sels, f.PodChaos.Selector.LabelSelectors)
		case f.NetworkChaos != nil:
			sels = append(sels, f.NetworkChaos.Selector.LabelSelectors)
			if f.NetworkChaos.Target != nil {
				sels = append(sels, f.NetworkChaos.Target.Selector.LabelSelectors)
			}
		}
		for _, sel := range sels {
			role := sel[observe.LabelComponent]
			for _, nd := range tp.Nodes {
				if role == "" || nd.Role == role {
					if out[f.Name] == nil {
						out[f.Name] = map[string]bool{}
					}
					out[f.Name][nd.ID] = true
				}
			}
		}
	}
	return out
}

// markDomainAndPath outlines the fault domain and the failure's path: the
// nodes that crashed or degraded once the first fault was injected, and
// the edges between them and the fault domain.
func (r *Report) markDomainAndPath(tp *topology, pos map[string]int) {
	domains := r.faultDomains(tp)
	for _, name := range sortedKeys(domains) {
		for id := range domains[name] {
			nd := &tp.Nodes[pos[id]]
			nd.Domain = true
			nd.Faults = append(nd.Faults, name)
		}
	}
	first := time.Duration(-1)
	for _, w := range r.windows() {
		if first < 0 || w.From < first {
			first = w.From
		}
	}
	if first < 0 {
		return
	}
	type hit struct {
		id    string
		at    float64
		state string
	}
	var hits []hit
	for i := range tp.Nodes {
		nd := &tp.Nodes[i]
		for fi, st := range nd.States {
			if r.Series[fi].At >= first && (st == stateCrashed || st == stateDegraded) {
				nd.OnPath = true
				hits = append(hits, hit{nd.ID, tp.Times[fi], st})
				break
			}
		}
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].at < hits[b].at })
	for _, nd := range tp.Nodes {
		if nd.Domain {
			tp.Path = append(tp.Path, fmt.Sprintf("%s: fault %s", nd.ID, strings.Join(nd.Faults, ", ")))
		}
	}
	for _, h := range hits {
		tp.Path = append(tp.Path, fmt.Sprintf("%s %s at %s", h.id, h.state, fmtDur(time.Duration(h.at*float64(time.Second)).Round(100*time.Millisecond))))
	}
	for i := range tp.Edges {
		e := &tp.Edges[i]
		a, b := tp.Nodes[pos[e.From]], tp.Nodes[pos[e.To]]
		e.OnPath = (a.OnPath || a.Domain) && (b.OnPath || b.Domain) && (a.OnPath || b.OnPath)
	}
}

// worse is the worse of two node states.
func worse(a, b string) string {
	rank := map[string]int{"": 0, stateAbsent: 1, stateServing: 2, stateDegraded: 3, stateCrashed: 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func fptr(v float64) *float64 {
	if !finite(v) {
		return nil
	}
	return &v
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// natLess orders names with numbers by value: orders-2 before orders-10.
func natLess(a, b string) bool {
	ia, ib := strings.LastIndexByte(a, '-'), strings.LastIndexByte(b, '-')
	if ia >= 0 && ib >= 0 && a[:ia] == b[:ib] {
		na, ea := strconv.Atoi(a[ia+1:])
		nb, eb := strconv.Atoi(b[ib+1:])
		if ea == nil && eb == nil {
			return na < nb
		}
	}
	return a < b
}
