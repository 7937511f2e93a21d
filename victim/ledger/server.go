package ledger

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cascadelab/cascadelab/victim/api"
	"github.com/cascadelab/cascadelab/victim/events"
)

// Server is the ledger's HTTP API:
//
//	POST /charges      {"order_id": "...", "amount_cents": N} → 200 order state
//	GET  /orders/{id}  → 200 order state, 404 if unknown
//	GET  /balance      → 200 Totals
type Server struct {
	store   *Store
	charges prometheus.Counter
	cents   prometheus.Counter
	dups    prometheus.Counter
	dupCent prometheus.Counter
	events  *events.Log
	mux     *http.ServeMux
}

// ServerOption configures NewServer.
type ServerOption func(*Server)

// WithEvents writes a duplicate_deduct event to l for every duplicate
// charge (nil: none).
func WithEvents(l *events.Log) ServerOption { return func(s *Server) { s.events = l } }

// Instrumenter wraps a handler with request metrics under a handler label.
type Instrumenter func(name string, h http.Handler) http.Handler

// NewServer returns the ledger API over store. It registers the charge
// counters with reg, starting them from the totals already in the database so
// a restarted ledger keeps its books. instrument may be nil.
func NewServer(ctx context.Context, store *Store, reg prometheus.Registerer, instrument Instrumenter, opts ...ServerOption) (*Server, error) {
	t, err := store.Totals(ctx)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store: store,
		charges: prometheus.NewCounter(prometheus.CounterOpts{Name: "victim_charges_total",
			Help: "Charge rows written by the ledger (restored from the database on start)."}),
		cents: prometheus.NewCounter(prometheus.CounterOpts{Name: "victim_charged_cents_total",
			Help: "Cents charged by the ledger (restored from the database on start)."}),
		dups: prometheus.NewCounter(prometheus.CounterOpts{Name: "victim_duplicate_charges_total",
			Help: "Charges for an order that had already been charged."}),
		dupCent: prometheus.NewCounter(prometheus.CounterOpts{Name: "victim_duplicate_charged_cents_total",
			Help: "Cents charged by duplicate charges."}),
		mux: http.NewServeMux(),
	}
	for _, o := range opts {
		o(s)
	}
	s.charges.Add(float64(t.Charges))
	s.cents.Add(float64(t.ChargedCents))
	s.dups.Add(float64(t.DuplicateCharges))
	s.dupCent.Add(float64(t.DuplicateCents))
	if reg != nil {
		for _, c := range []prometheus.Collector{s.charges, s.cents, s.dups, s.dupCent} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	if instrument == nil {
		instrument = func(_ string, h http.Handler) http.Handler { return h }
	}
	s.mux.Handle("POST /charges", instrument("charges", http.HandlerFunc(s.charge)))
	s.mux.Handle("GET /orders/{id}", instrument("order", http.HandlerFunc(s.order)))
	s.mux.Handle("GET /balance", instrument("balance", http.HandlerFunc(s.balance)))
	return s, nil
}

// ServeHTTP serves the ledger API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) charge(w http.ResponseWriter, r *http.Request) {
	body, err := api.ReadBody(w, r)
	if err != nil {
		api.WriteError(w, err, http.StatusBadRequest)
		return
	}
	req, err := api.DecodeCharge(body)
	if err != nil {
		api.WriteError(w, err, http.StatusBadRequest)
		return
	}
	c, err := s.store.ChargeOrder(r.Context(), req.OrderID, req.AmountCents)
	if err != nil {
		api.WriteError(w, err, http.StatusInternalServerError)
		return
	}
	if c.Charged {
		s.charges.Inc()
		s.cents.Add(float64(c.Order.AmountCents))
		if c.Duplicate {
			s.dups.Inc()
			s.dupCent.Add(float64(c.Order.AmountCents))
			s.events.Emit(events.Event{Event: events.DuplicateDeduct, RequestID: r.Header.Get(events.RequestIDHeader),
				OrderID: req.OrderID, Status: c.Order.Status, AmountCents: c.Order.AmountCents})
		}
	}
	api.WriteJSON(w, http.StatusOK, c.Order)
}

func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := api.ValidateID(id); err != nil {
		api.WriteError(w, err, http.StatusBadRequest)
		return
	}
	o, ok, err := s.store.Order(r.Context(), id)
	switch {
	case err != nil:
		api.WriteError(w, err, http.StatusInternalServerError)
	case !ok:
		api.WriteJSON(w, http.StatusNotFound, api.Error{Error: "unknown order " + id})
	default:
		api.WriteJSON(w, http.StatusOK, o)
	}
}

func (s *Server) balance(w http.ResponseWriter, r *http.Request) {
	t, err := s.store.Totals(r.Context())
	if err != nil {
		api.WriteError(w, err, http.StatusInternalServerError)
		return
	}
	api.WriteJSON(w, http.StatusOK, t)
}
