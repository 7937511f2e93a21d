// Package gateway is the victim's edge: it forwards POST /orders/{id}/pay to
// the orders replicas round-robin, with a per-try timeout and retries that
// re-send the same order ID.
//
// ModeLeaky runs each try in a goroutine that calls upstream without the
// caller's context and hands the result back on an unbuffered channel. When
// the try times out the caller stops listening and that goroutine blocks
// forever on its send: a goroutine leak that grows with upstream latency.
// ModeBounded makes each try a plain call under a context with the try's
// deadline, so nothing outlives the request.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cascadelab/cascadelab/victim/api"
	"github.com/cascadelab/cascadelab/victim/events"
)

// Modes, as accepted by the --mode flag.
const (
	ModeLeaky   = "leaky"
	ModeBounded = "bounded"
)

// Server is the gateway.
type Server struct {
	mode     string
	upstream []string
	next     atomic.Uint64
	timeout  time.Duration
	retries  int
	client   *http.Client
	attempts *prometheus.CounterVec
	inflight prometheus.Gauge
	events   *events.Log
	mux      *http.ServeMux
}

type options struct {
	client     *http.Client
	reg        prometheus.Registerer
	instrument func(string, http.Handler) http.Handler
	edge       func(string, http.RoundTripper) http.RoundTripper
	events     *events.Log
}

// Option configures New.
type Option func(*options)

// WithClient sets the client used to call orders.
func WithClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithRegisterer registers the gateway's metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// WithEvents writes a gateway_retry event to l for every retry (nil: none).
func WithEvents(l *events.Log) Option { return func(o *options) { o.events = l } }

// WithInstrument wraps each route with the given middleware.
func WithInstrument(f func(string, http.Handler) http.Handler) Option {
	return func(o *options) { o.instrument = f }
}

// WithClientInstrument wraps the transport of the client that calls orders
// with f under the upstream name "orders" (per-edge client metrics, such as
// admin.Metrics.InstrumentClient). The client given to WithClient is copied,
// not changed; its transport, and so its pooled connections, are shared.
func WithClientInstrument(f func(upstream string, next http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.edge = f }
}

// Upstream is the upstream label of the gateway's calls to orders.
const Upstream = "orders"

// New returns a gateway in mode over the given orders base URLs.
func New(mode string, upstream []string, timeout time.Duration, retries int, opts ...Option) (*Server, error) {
	if mode != ModeLeaky && mode != ModeBounded {
		return nil, fmt.Errorf("unknown gateway mode %q (want %q or %q)", mode, ModeLeaky, ModeBounded)
	}
	if len(upstream) == 0 {
		return nil, errors.New("gateway: no orders URL")
	}
	if timeout <= 0 || retries < 0 {
		return nil, fmt.Errorf("gateway: timeout must be > 0 and retries >= 0 (got %v, %d)", timeout, retries)
	}
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 512
		t.MaxIdleConnsPerHost = 256
		t.IdleConnTimeout = idleConnTimeout
		// No client timeout: leaky mode must be able to leak.
		o.client = &http.Client{Transport: t}
	}
	if o.instrument == nil {
		o.instrument = func(_ string, h http.Handler) http.Handler { return h }
	}
	if o.edge != nil {
		c := *o.client
		c.Transport = o.edge(Upstream, c.Transport)
		o.client = &c
	}
	s := &Server{
		mode: mode, timeout: timeout, retries: retries, client: o.client, events: o.events, mux: http.NewServeMux(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_attempts_total",
			Help: "Tries against orders by result: ok, client_error, server_error, timeout, transport_error.",
		}, []string{"result"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_detached_calls",
			Help: "Leaky mode: upstream calls whose goroutine is still alive (in flight or blocked forever).",
		}),
	}
	for _, u := range upstream {
		s.upstream = append(s.upstream, strings.TrimRight(u, "/"))
	}
	if o.reg != nil {
		if err := errors.Join(o.reg.Register(s.attempts), o.reg.Register(s.inflight)); err != nil {
			return nil, err
		}
	}
	s.mux.Handle("POST /orders/{id}/pay", o.instrument("pay", http.HandlerFunc(s.pay)))
	return s, nil
}

// ServeHTTP serves the gateway.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type result struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (s *Server) pay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := api.ReadBody(w, r)
	if err != nil {
		api.WriteError(w, err, http.StatusBadRequest)
		return
	}
	if _, err := api.DecodePay(id, body); err != nil {
		api.WriteError(w, err, http.StatusBadRequest)
		return
	}
	path := "/orders/" + id + "/pay"
	// Every try of one request carries the same ID, so a charge made twice
	// by a retry shows as one request charged twice.
	rid := r.Header.Get(events.RequestIDHeader)
	if rid == "" {
		rid = events.NewRequestID()
	}
	var last result
	timedOut := false
	// Tries go round the replicas from the next one in turn: a retry
	// never goes back to the replica that just failed (when there are
	// several).
	first := s.next.Add(1)
	for try := 0; try <= s.retries; try++ {
		if r.Context().Err() != nil {
			return // the client went away
		}
		if try > 0 {
			s.events.Emit(retryEvent(rid, id, try+1, last))
		}
		base := s.upstream[(first+uint64(try))%uint64(len(s.upstream))]
		if s.mode == ModeLeaky {
			last = s.tryLeaky(r.Context(), base+path, rid, body)
		} else {
			last = s.tryBounded(r.Context(), base+path, rid, body)
		}
		switch {
		case errors.Is(last.err, context.DeadlineExceeded):
			timedOut = true
			s.attempts.WithLabelValues("timeout").Inc()
			continue
		case last.err != nil:
			s.attempts.WithLabelValues("transport_error").Inc()
			continue
		case last.status >= 500:
			s.attempts.WithLabelValues("server_error").Inc()
			continue
		case last.status >= 400:
			s.attempts.WithLabelValues("client_error").Inc()
		default:
			s.attempts.WithLabelValues("ok").Inc()
		}
		if ct := last.header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(last.status)
		w.Write(last.body)
		return
	}
	if timedOut && last.err != nil {
		api.WriteJSON(w, http.StatusGatewayTimeout, api.Error{Error: fmt.Sprintf("orders: %d tries timed out or failed: %v", s.retries+1, last.err)})
		return
	}
	msg := fmt.Sprintf("orders: %d tries failed", s.retries+1)
	if last.err != nil {
		msg += ": " + last.err.Error()
	} else {
		msg += fmt.Sprintf(": last status %d", last.status)
	}
	api.WriteJSON(w, http.StatusBadGateway, api.Error{Error: msg})
}

// tryBounded calls upstream under ctx with the try's deadline.
func (s *Server) tryBounded(ctx context.Context, url, rid string, body []byte) result {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.call(ctx, url, rid, body)
}

// tryLeaky is the bug: the call runs detached from the caller's context and
// reports on an unbuffered channel nobody reads once the caller timed out.
func (s *Server) tryLeaky(ctx context.Context, url, rid string, body []byte) result {
	ch := make(chan result) // unbuffered: the send blocks until received
	s.inflight.Inc()
	go func() {
		res := s.call(context.Background(), url, rid, body)
		ch <- res // blocks forever once the caller has given up
		s.inflight.Dec()
	}()
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case res := <-ch:
		return res
	case <-t.C:
		return result{err: fmt.Errorf("try timed out after %v: %w", s.timeout, context.DeadlineExceeded)}
	case <-ctx.Done():
		return result{err: ctx.Err()}
	}
}

func (s *Server) call(ctx context.Context, url, rid string, body []byte) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(events.RequestIDHeader, rid)
	resp, err := s.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return result{err: err}
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

// retryEvent is the gateway_retry event of request rid's try number
// attempt, saying what the previous try got.
func retryEvent(rid, order string, attempt int, prev result) events.Event {
	e := events.Event{Event: events.GatewayRetry, RequestID: rid, OrderID: order, Attempt: attempt, Code: prev.status}
	if prev.err != nil {
		e.Error = prev.err.Error()
	}
	return e
}

// idleConnTimeout closes pooled keep-alive connections soon after a burst:
// each idle connection holds goroutines (a read and a write loop here, a
// serving goroutine upstream), and a drill judges goroutine growth a few
// seconds after its faults end. Leaked goroutines stay; pooled ones go.
const idleConnTimeout = 4 * time.Second
