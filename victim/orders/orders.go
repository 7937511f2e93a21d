// Package orders is the orders service: POST /orders/{id}/pay puts the order
// in the order cache, asks the ledger whether it is paid, asks the ledger to
// charge it, and marks it paid in the cache — the incident's flow, with the
// cache strategy chosen by flag.
//
// The check ("is it PAID?", in the cache, then in the ledger) and the act
// ("charge, then mark PAID") are separate steps around network calls to the
// ledger. No cache strategy makes them one unit across processes (serialized
// does within one): two requests for one order that arrive within a ledger
// round trip of each other can both reach the charge, and only the ledger's
// compare-and-set (cas) charges such an order once.
package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cascadelab/cascadelab/victim/api"
	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/events"
)

// Server serves the orders API.
type Server struct {
	cache     cache.Cache
	ledgerURL string
	client    *http.Client
	// timeout bounds each call to the ledger (the client's Timeout, moved
	// into the request's context: see NewServer).
	timeout time.Duration
	// touchInterval is how often a pending payment touches its cache
	// entry (see keepFresh).
	touchInterval time.Duration
	logger        *log.Logger
	events        *events.Log
	mux           *http.ServeMux
}

type options struct {
	client     *http.Client
	logger     *log.Logger
	instrument func(string, http.Handler) http.Handler
	edge       func(string, http.RoundTripper) http.RoundTripper
	events     *events.Log
	touch      time.Duration
}

// Option configures NewServer.
type Option func(*options)

// WithClient sets the HTTP client used to call the ledger.
func WithClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithLogger sets where recovered panics are logged.
func WithLogger(l *log.Logger) Option { return func(o *options) { o.logger = l } }

// WithEvents writes the pay flow's events to l: order_cache_set (PREPARE
// and PAID), charge_attempt and charge_result (nil: none).
func WithEvents(l *events.Log) Option { return func(o *options) { o.events = l } }

// WithTouchInterval sets how often a payment waiting on the ledger touches
// its cache entry (default TouchInterval; 0 or less: never).
func WithTouchInterval(d time.Duration) Option { return func(o *options) { o.touch = d } }

// TouchInterval is the default of WithTouchInterval: far longer than a
// ledger call takes when the ledger is healthy (a few milliseconds, tens on a
// loaded machine), so a payment answered in time writes nothing more, and far
// shorter than the janitor's TTL.
const TouchInterval = 50 * time.Millisecond

// WithInstrument wraps each route with the given middleware (request
// metrics), named by handler.
func WithInstrument(f func(string, http.Handler) http.Handler) Option {
	return func(o *options) { o.instrument = f }
}

// WithClientInstrument wraps the transport of the client that calls the
// ledger with f under the upstream name "ledger" (per-edge client metrics,
// such as admin.Metrics.InstrumentClient). The client given to WithClient
// is copied, not changed; its transport, and so its pooled connections, are
// shared.
func WithClientInstrument(f func(upstream string, next http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.edge = f }
}

// Upstream is the upstream label of the orders service's calls to the
// ledger (charges and readiness checks alike).
const Upstream = "ledger"

// NewClient returns an HTTP client with transport limits sized for calls
// between the victim's services on one machine or cluster.
func NewClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = idleConnTimeout
	t.ResponseHeaderTimeout = timeout
	return &http.Client{Transport: t, Timeout: timeout}
}

// NewServer returns the orders API over c, charging through the ledger at
// ledgerURL.
func NewServer(c cache.Cache, ledgerURL string, opts ...Option) *Server {
	o := options{touch: TouchInterval}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		o.client = NewClient(10 * time.Second)
	}
	if o.logger == nil {
		o.logger = log.Default()
	}
	if o.instrument == nil {
		o.instrument = func(_ string, h http.Handler) http.Handler { return h }
	}
	// The client's Timeout is applied through each request's context
	// instead: an http.Client with a Timeout over a transport that is not
	// an *http.Transport (the per-edge metrics wrap it) falls back to
	// net/http's legacy cancellation, two goroutines per request in flight
	// (setRequestCancel, awaitLegacyCancel) that goleak would report.
	cl := *o.client
	timeout := cl.Timeout
	cl.Timeout = 0
	if o.edge != nil {
		cl.Transport = o.edge(Upstream, cl.Transport)
	}
	s := &Server{cache: c, ledgerURL: strings.TrimRight(ledgerURL, "/"), client: &cl, timeout: timeout, touchInterval: o.touch, logger: o.logger, events: o.events, mux: http.NewServeMux()}
	s.mux.Handle("POST /orders/{id}/pay", o.instrument("pay", http.HandlerFunc(s.pay)))
	return s
}

// ServeHTTP serves the orders API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// CheckLedger reports whether the ledger answers.
func (s *Server) CheckLedger(ctx context.Context) error {
	code, _, _, err := s.call(ctx, "", http.MethodGet, "/balance", nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("ledger: %d %s", code, http.StatusText(code))
	}
	return nil
}

func (s *Server) pay(w http.ResponseWriter, r *http.Request) {
	// This recover catches panics. It does not catch the racy cache's
	// "fatal error: concurrent map writes": that is a fatal throw, which
	// kills the process without running deferred functions.
	defer func() {
		if p := recover(); p != nil {
			s.logger.Printf("orders: recovered panic in pay: %v", p)
			api.WriteJSON(w, http.StatusInternalServerError, api.Error{Error: "internal error"})
		}
	}()
	id := r.PathValue("id")
	body, err := api.ReadBody(w, r)
	if err != nil {
		api.WriteError(w, err, http.StatusBadRequest)
		return
	}
	req, err := api.DecodePay(id, body)
	if err != nil {
		api.WriteError(w, err, http.StatusBadRequest)
		return
	}
	var (
		order  api.Order
		status int
	)
	rid := r.Header.Get(events.RequestIDHeader)
	s.cache.Do(id, func() { order, status, err = s.payFlow(r.Context(), rid, id, req.AmountCents) })
	if err != nil {
		api.WriteError(w, err, status)
		return
	}
	api.WriteJSON(w, http.StatusOK, order)
}

// payFlow is the incident's flow: cache, check, charge, mark paid. rid is
// the request's ID (from the gateway), written into every event and passed on
// to the ledger.
//
// The check reads the order's state from the ledger (the incident read it
// from its database) and the act is a second call that charges it: the
// check-then-act window is a full round trip to the ledger. While the ledger
// answers fast the window is a few milliseconds; under a slow ledger it is as
// long as the ledger's latency, and a retry or a double click that arrives
// within it passes the same check. Only the ledger's compare-and-set (cas)
// closes the window; no cache strategy can, across processes.
func (s *Server) payFlow(ctx context.Context, rid, id string, amount int64) (api.Order, int, error) {
	e := cache.Entry{ID: id, AmountCents: amount, Status: api.StatusPrepare, Touched: time.Now()}
	// The cache says it is already paid → answer from the cache.
	cur, loaded := s.cache.LoadOrStore(e)
	if loaded && cur.Status == api.StatusPaid {
		return api.Order{ID: id, AmountCents: cur.AmountCents, Status: api.StatusPaid, AlreadyPaid: true}, 0, nil
	}
	if !loaded {
		s.events.Emit(events.Event{Event: events.CacheSet, RequestID: rid, OrderID: id, Status: api.StatusPrepare, AmountCents: amount})
	}
	// The entry is kept fresh while the ledger is asked, so the janitor
	// never evicts an order whose payment is pending.
	stop := s.keepFresh(id)
	defer stop()
	// Check: the ledger, the system of record, says whether it is paid.
	if o, paid, status, err := s.lookup(ctx, rid, id); err != nil {
		return o, status, err
	} else if paid {
		stop()
		s.markPaid(rid, o)
		o.AlreadyPaid = true
		return o, 0, nil
	}
	// Act: charge through the ledger. Another request for the same order
	// can pass the check above while this call, or the check's, is in
	// flight.
	s.events.Emit(events.Event{Event: events.ChargeAttempt, RequestID: rid, OrderID: id, AmountCents: amount})
	o, status, err := s.charge(ctx, rid, id, amount)
	if err != nil {
		s.events.Emit(events.Event{Event: events.ChargeResult, RequestID: rid, OrderID: id, Code: max(status, http.StatusBadRequest), Error: err.Error()})
		return o, status, err
	}
	s.events.Emit(events.Event{Event: events.ChargeResult, RequestID: rid, OrderID: id, Status: o.Status, AmountCents: o.AmountCents})
	stop()
	s.markPaid(rid, o)
	return o, 0, nil
}

// markPaid writes the paid order into the cache.
func (s *Server) markPaid(rid string, o api.Order) {
	s.cache.Put(cache.Entry{ID: o.ID, AmountCents: o.AmountCents, Status: api.StatusPaid, Touched: time.Now()})
	s.events.Emit(events.Event{Event: events.CacheSet, RequestID: rid, OrderID: o.ID, Status: api.StatusPaid, AmountCents: o.AmountCents})
}

// keepFresh touches id's cache entry every touchInterval until the returned
// function is first called; once it returns, nothing touches the entry. A
// payment answered within one interval touches nothing; a pending one
// touches its entry again and again, so the cache's write rate grows with
// the number of payments waiting on the ledger. The touches run from a
// timer, not a goroutine of their own: a pending payment holds no goroutine
// beyond its request's.
func (s *Server) keepFresh(id string) (stop func()) {
	if s.touchInterval <= 0 {
		return func() {}
	}
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(s.touchInterval, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		s.cache.Touch(id, time.Now())
		t.Reset(s.touchInterval)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// lookup asks the ledger for the order's state: paid is true when the
// ledger has it PAID; an order the ledger does not know is not paid.
func (s *Server) lookup(ctx context.Context, rid, id string) (o api.Order, paid bool, status int, err error) {
	code, rb, status, err := s.call(ctx, rid, http.MethodGet, "/orders/"+url.PathEscape(id), nil)
	switch {
	case err != nil:
		return o, false, status, err
	case code == http.StatusNotFound:
		return o, false, 0, nil
	case code != http.StatusOK:
		return o, false, http.StatusBadGateway, ledgerError(code, rb)
	}
	if err := json.Unmarshal(rb, &o); err != nil {
		return o, false, http.StatusBadGateway, fmt.Errorf("ledger: bad response: %w", err)
	}
	return o, o.Status == api.StatusPaid, 0, nil
}

func (s *Server) charge(ctx context.Context, rid, id string, amount int64) (api.Order, int, error) {
	b, _ := json.Marshal(api.ChargeRequest{OrderID: id, AmountCents: amount})
	code, rb, status, err := s.call(ctx, rid, http.MethodPost, "/charges", b)
	if err != nil {
		return api.Order{}, status, err
	}
	if code != http.StatusOK {
		if code >= 400 && code < 500 {
			var e api.Error
			_ = json.Unmarshal(rb, &e)
			return api.Order{}, 0, &api.RequestError{Status: code, Msg: "ledger: " + e.Error}
		}
		return api.Order{}, http.StatusBadGateway, ledgerError(code, rb)
	}
	var o api.Order
	if err := json.Unmarshal(rb, &o); err != nil {
		return api.Order{}, http.StatusBadGateway, fmt.Errorf("ledger: bad response: %w", err)
	}
	return o, 0, nil
}

// call sends one request to the ledger under the call timeout and returns
// its status code and body (at most 64 KiB); on failure, the status this
// service answers with and the error.
func (s *Server) call(ctx context.Context, rid, method, path string, body []byte) (code int, rb []byte, status int, err error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.ledgerURL+path, r)
	if err != nil {
		return 0, nil, http.StatusInternalServerError, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rid != "" {
		req.Header.Set(events.RequestIDHeader, rid)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, http.StatusBadGateway, fmt.Errorf("ledger: %w", err)
	}
	defer resp.Body.Close()
	rb, err = io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, nil, http.StatusBadGateway, fmt.Errorf("ledger: %w", err)
	}
	return resp.StatusCode, rb, 0, nil
}

// ledgerError describes a ledger answer that is not a success.
func ledgerError(code int, rb []byte) error {
	var e api.Error
	_ = json.Unmarshal(rb, &e)
	return fmt.Errorf("ledger: %d %s: %s", code, http.StatusText(code), e.Error)
}

// callContext bounds one call to the ledger by the client's timeout.
func (s *Server) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// idleConnTimeout closes pooled keep-alive connections soon after a burst:
// each idle connection holds goroutines (a read and a write loop here, a
// serving goroutine upstream), and a drill judges goroutine growth a few
// seconds after its faults end. Leaked goroutines stay; pooled ones go.
const idleConnTimeout = 4 * time.Second
