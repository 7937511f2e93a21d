// Package api holds the wire types shared by the victim's roles: the order
// state, the pay request and its strict decoder, and JSON response helpers.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
)

// Order statuses. An order starts in StatusPrepare and becomes StatusPaid once
// charged.
const (
	StatusPrepare = "PREPARE"
	StatusPaid    = "PAID"
)

// MaxAmountCents is the largest amount a single payment may carry
// (one million currency units). Larger amounts are rejected as absurd.
const MaxAmountCents = 100_000_000

// MaxBodyBytes caps request bodies; larger bodies are rejected with 413.
const MaxBodyBytes = 4 << 10

// Order is the state of one order as the services report it.
type Order struct {
	ID          string `json:"id"`
	AmountCents int64  `json:"amount_cents"`
	Status      string `json:"status"`
	// AlreadyPaid is set when the request found the order already paid and
	// charged nothing.
	AlreadyPaid bool `json:"already_paid,omitempty"`
}

// PayRequest is the body of POST /orders/{id}/pay.
type PayRequest struct {
	AmountCents int64 `json:"amount_cents"`
}

// ChargeRequest is the body of the ledger's POST /charges.
type ChargeRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
}

// Error is the JSON body of every 4xx and 5xx response.
type Error struct {
	Error string `json:"error"`
}

// RequestError is a client error: it carries the HTTP status to answer with.
type RequestError struct {
	Status int
	Msg    string
}

// Error returns the message.
func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// ValidateID reports whether id is an acceptable order ID: 1 to 128
// characters from [A-Za-z0-9._:-].
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return badRequest("invalid order id %q: want 1-128 characters of [A-Za-z0-9._:-]", id)
	}
	return nil
}

// ValidateAmount reports whether cents is a positive, sane amount.
func ValidateAmount(cents int64) error {
	if cents <= 0 {
		return badRequest("amount_cents must be positive, got %d", cents)
	}
	if cents > MaxAmountCents {
		return badRequest("amount_cents %d exceeds the limit of %d", cents, MaxAmountCents)
	}
	return nil
}

// DecodePay validates an order ID and strictly decodes a pay request body:
// exactly one JSON object, no unknown fields, a positive amount no larger than
// MaxAmountCents. Every error it returns is a *RequestError with a 4xx status,
// so callers can never turn bad input into a 5xx.
func DecodePay(id string, body []byte) (PayRequest, error) {
	var req PayRequest
	if err := ValidateID(id); err != nil {
		return req, err
	}
	if err := decodeStrict(body, &req); err != nil {
		return req, err
	}
	return req, ValidateAmount(req.AmountCents)
}

// DecodeCharge strictly decodes and validates a ledger charge request.
func DecodeCharge(body []byte) (ChargeRequest, error) {
	var req ChargeRequest
	if err := decodeStrict(body, &req); err != nil {
		return req, err
	}
	if err := ValidateID(req.OrderID); err != nil {
		return req, err
	}
	return req, ValidateAmount(req.AmountCents)
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("empty body: want a JSON object")
		}
		return badRequest("malformed JSON: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON: trailing data after the object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("malformed JSON: trailing data after the object")
	}
	return nil
}

// ReadBody reads at most MaxBodyBytes of r's body. A larger body yields a
// *RequestError with status 413.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &RequestError{Status: http.StatusRequestEntityTooLarge, Msg: "body too large"}
		}
		return nil, badRequest("reading body: %v", err)
	}
	return b, nil
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err as a JSON error. A *RequestError keeps its status;
// any other error is answered with fallback (a 5xx).
func WriteError(w http.ResponseWriter, err error, fallback int) {
	var re *RequestError
	if errors.As(err, &re) {
		WriteJSON(w, re.Status, Error{Error: re.Msg})
		return
	}
	WriteJSON(w, fallback, Error{Error: err.Error()})
}
