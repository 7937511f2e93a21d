package v1alpha1

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of LoadRequest.
const (
	// MaxRequestBody caps load.request.body.
	MaxRequestBody = 64 << 10
	// MaxRequestHeaders caps the number of load.request.headers.
	MaxRequestHeaders = 32
)

// requestPathRE is load.request.path: a path and query from the base URL.
var requestPathRE = regexp.MustCompile(`^/[^#[:space:]]*$`)

var requestMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// CodeRange is an inclusive range of HTTP status codes.
// +kubebuilder:object:generate=false
type CodeRange struct{ Lo, Hi int }

// DefaultSuccessCodes are the success codes of a request that names none.
var DefaultSuccessCodes = []CodeRange{{200, 299}}

// ParseSuccessCodes turns load.request.successCodes into ranges: each item
// is a code (204, or "204") or an inclusive range ("200-299") of codes
// from 100 to 599. Empty is DefaultSuccessCodes.
func ParseSuccessCodes(codes []intstr.IntOrString) ([]CodeRange, error) {
	if len(codes) == 0 {
		return DefaultSuccessCodes, nil
	}
	out := make([]CodeRange, 0, len(codes))
	for i, c := range codes {
		r, err := parseCodeRange(c)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseCodeRange(c intstr.IntOrString) (CodeRange, error) {
	code := func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 || n > 599 {
			return 0, fmt.Errorf("%q is not an HTTP status code from 100 to 599", s)
		}
		return n, nil
	}
	if c.Type == intstr.Int {
		n, err := code(strconv.Itoa(int(c.IntVal)))
		return CodeRange{n, n}, err
	}
	lo, hi, isRange := strings.Cut(c.StrVal, "-")
	a, err := code(lo)
	if err != nil {
		return CodeRange{}, err
	}
	b := a
	if isRange {
		if b, err = code(hi); err != nil {
			return CodeRange{}, err
		}
		if b < a {
			return CodeRange{}, fmt.Errorf("range %q ends before it starts", c.StrVal)
		}
	}
	return CodeRange{a, b}, nil
}

func validateRequest(r *LoadRequest, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateEnum(r.Method, fld.Child("method"), requestMethods...)...)
	if len(r.Path) > 2048 || (r.Path != "" && !requestPathRE.MatchString(r.Path)) {
		errs = append(errs, field.Invalid(fld.Child("path"), r.Path, "must be a path starting with / (a query allowed; at most 2048 characters, no fragment or space)"))
	}
	if len(r.Headers) > MaxRequestHeaders {
		errs = append(errs, field.TooMany(fld.Child("headers"), len(r.Headers), MaxRequestHeaders))
	}
	for k, v := range r.Headers {
		if !httpguts.ValidHeaderFieldName(k) {
			errs = append(errs, field.Invalid(fld.Child("headers").Key(k), k, "not a valid HTTP header name"))
		}
		if len(v) > 4096 || !httpguts.ValidHeaderFieldValue(v) {
			errs = append(errs, field.Invalid(fld.Child("headers").Key(k), v, "not a valid HTTP header value (at most 4096 characters)"))
		}
	}
	if len(r.Body) > MaxRequestBody {
		errs = append(errs, field.TooLong(fld.Child("body"), "", MaxRequestBody))
	}
	if len(r.SuccessCodes) > 32 {
		errs = append(errs, field.TooMany(fld.Child("successCodes"), len(r.SuccessCodes), 32))
	}
	for i, c := range r.SuccessCodes {
		if _, err := parseCodeRange(c); err != nil {
			errs = append(errs, field.Invalid(fld.Child("successCodes").Index(i), c.String(), err.Error()+`: want a code such as 204 or a range such as "200-299"`))
		}
	}
	return errs
}

// RequestArgs are the victim's loadgen flags for Request: --request with
// the request as JSON when one is set, none otherwise (the loadgen's
// default is the victim's payment request).
func (l LoadSpec) RequestArgs() []string {
	if l.Request == nil {
		return nil
	}
	b, err := json.Marshal(l.Request)
	if err != nil { // a struct of strings and maps: cannot fail
		panic(err)
	}
	return []string{"--request=" + string(b)}
}
