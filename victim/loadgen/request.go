package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// IDPlaceholder in a Request's Path or Body is replaced by the hit's
// request id: PREFIX-N, the same for both requests of a duplicated pair.
const IDPlaceholder = "{{.ID}}"

// maxRequestJSON bounds the --request flag's JSON.
const maxRequestJSON = 256 << 10

// Request is the HTTP request the load sends instead of the victim's
// payment: any method, path, headers and body, and the status codes that
// count as success (an answer outside them counts as a failed request).
// Its JSON form is the Experiment's spec.load.request.
type Request struct {
	Method  string            `json:"method,omitempty"`
	Path    string            `json:"path,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// SuccessCodes are codes (204) or inclusive ranges ("200-299");
	// empty means 200-299.
	SuccessCodes []json.RawMessage `json:"successCodes,omitempty"`

	ranges [][2]int
}

// ParseRequest reads a Request from its JSON form, strictly (an unknown
// field is an error), and checks its success codes.
func ParseRequest(s string) (*Request, error) {
	if len(s) > maxRequestJSON {
		return nil, fmt.Errorf("request: longer than %d bytes", maxRequestJSON)
	}
	var r Request
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	if r.Path == "" {
		r.Path = "/"
	}
	if !strings.HasPrefix(r.Path, "/") {
		return nil, fmt.Errorf("request: path %q must start with /", r.Path)
	}
	for i, raw := range r.SuccessCodes {
		lo, hi, err := codeRange(raw)
		if err != nil {
			return nil, fmt.Errorf("request: successCodes[%d]: %w", i, err)
		}
		r.ranges = append(r.ranges, [2]int{lo, hi})
	}
	if len(r.ranges) == 0 {
		r.ranges = [][2]int{{200, 299}}
	}
	return &r, nil
}

func codeRange(raw json.RawMessage) (lo, hi int, err error) {
	var s string
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, 0, err
		}
	} else {
		s = string(bytes.TrimSpace(raw))
	}
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.Atoi(a); err != nil || lo < 100 || lo > 599 {
		return 0, 0, fmt.Errorf("%s is not a status code from 100 to 599 or a range such as \"200-299\"", raw)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil || hi < lo || hi > 599 {
			return 0, 0, fmt.Errorf("%s is not a range of status codes such as \"200-299\"", raw)
		}
	}
	return lo, hi, nil
}

// Success reports whether an answer with status code is a success.
func (r *Request) Success(code int) bool {
	for _, c := range r.ranges {
		if code >= c[0] && code <= c[1] {
			return true
		}
	}
	return false
}

// build fills a hit for request id.
func (r *Request) build(base, id string, h http.Header) (method, url string, body []byte) {
	for k, v := range r.Headers {
		h.Set(k, v)
	}
	return r.Method, base + strings.ReplaceAll(r.Path, IDPlaceholder, id), []byte(strings.ReplaceAll(r.Body, IDPlaceholder, id))
}
