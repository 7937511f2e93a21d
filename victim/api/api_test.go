package api

import (
	"errors"
	"testing"
)

func TestDecodePay(t *testing.T) {
	cases := []struct {
		id, body string
		ok       bool
	}{
		{"o1", `{"amount_cents": 100}`, true},
		{"o1", ` {"amount_cents":1} `, true},
		{"o1", `{"amount_cents": 0}`, false},
		{"o1", `{"amount_cents": -5}`, false},
		{"o1", `{"amount_cents": 100000000000}`, false},
		{"o1", `{"amount_cents": 1, "x": 2}`, false},
		{"o1", `{"amount_cents": 1}{}`, false},
		{"o1", `{"amount_cents": "1"}`, false},
		{"o1", `{"amount_cents": 1.5}`, false},
		{"o1", ``, false},
		{"o1", `null`, false},
		{"", `{"amount_cents": 1}`, false},
		{"a/b", `{"amount_cents": 1}`, false},
	}
	for _, c := range cases {
		_, err := DecodePay(c.id, []byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("DecodePay(%q, %q) err = %v, want ok=%v", c.id, c.body, err, c.ok)
		}
		var re *RequestError
		if err != nil && (!errors.As(err, &re) || re.Status < 400 || re.Status > 499) {
			t.Errorf("DecodePay(%q, %q) err = %#v, want a 4xx RequestError", c.id, c.body, err)
		}
	}
}

func FuzzDecodePay(f *testing.F) {
	for _, s := range []string{`{"amount_cents": 100}`, `{"amount_cents": -1}`, `{`, `[]`, `null`,
		`{"amount_cents": 1e3}`, `{"amount_cents": 99999999999999999999}`, `{"amount_cents":1,"amount_cents":2}`, "\x00"} {
		f.Add("order-1", []byte(s))
	}
	f.Add("", []byte(`{"amount_cents": 1}`))
	f.Add("../../etc", []byte(`{"amount_cents": 1}`))
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		req, err := DecodePay(id, body)
		if err == nil {
			if req.AmountCents <= 0 || req.AmountCents > MaxAmountCents || ValidateID(id) != nil {
				t.Fatalf("accepted invalid request id=%q body=%q: %+v", id, body, req)
			}
			return
		}
		var re *RequestError
		if !errors.As(err, &re) || re.Status < 400 || re.Status > 499 {
			t.Fatalf("DecodePay(%q, %q) = %v: want a 4xx RequestError", id, body, err)
		}
	})
}
