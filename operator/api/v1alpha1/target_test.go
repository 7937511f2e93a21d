package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const targetHead = "apiVersion: cascadelab.dev/v1alpha1\nkind: Experiment\nmetadata: {name: own}\nspec:\n  duration: 30s\n"

// loadOwn loads and defaults one experiment; it fails the test on a load error.
func loadOwn(t *testing.T, spec string) *v1alpha1.Experiment {
	t.Helper()
	exps, err := v1alpha1.Load([]byte(targetHead + spec))
	if err != nil {
		t.Fatal(err)
	}
	e := &exps[0]
	e.Default()
	return e
}

// TestOwnServiceSpec checks spec.target and spec.load.request: the
// defaults of a minimal own-service drill, and bad input refused with the
// field's path.
func TestOwnServiceSpec(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		e := loadOwn(t, "  target: {selector: {matchLabels: {app: shop}}, process: {command: [./shop, --listen=:$(PORT)]}}\n  load: {request: {}}\n")
		tg, r := e.Spec.Target, e.Spec.Load.Request
		if tg.Port != 8080 || tg.AdminPort != 9090 || tg.MetricsPath != "/metrics" || tg.GoroutinesPath != "/debug/pprof/goroutine" ||
			tg.Process.Replicas != 1 || r.Method != "GET" || r.Path != "/" {
			t.Errorf("defaults: target %+v, request %+v", *tg, *r)
		}
		if errs := v1alpha1.Validate(e); len(errs) > 0 {
			t.Errorf("minimal own-service drill refused: %v", errs)
		}
		codes, err := v1alpha1.ParseSuccessCodes(nil)
		if err != nil || len(codes) != 1 || codes[0] != (v1alpha1.CodeRange{Lo: 200, Hi: 299}) {
			t.Errorf("default success codes %v, %v", codes, err)
		}
	})
	t.Run("success codes", func(t *testing.T) {
		codes, err := v1alpha1.ParseSuccessCodes([]intstr.IntOrString{intstr.FromInt32(404), intstr.FromString("200-204")})
		if err != nil || len(codes) != 2 || codes[0] != (v1alpha1.CodeRange{Lo: 404, Hi: 404}) || codes[1] != (v1alpha1.CodeRange{Lo: 200, Hi: 204}) {
			t.Errorf("got %v, %v", codes, err)
		}
	})
	for _, c := range []struct{ name, spec, field string }{
		{"process without labels", "  target: {selector: {matchExpressions: [{key: app, operator: Exists}]}, process: {command: [./shop]}}\n", "spec.target.selector.matchLabels"},
		{"empty command", "  target: {selector: {matchLabels: {app: shop}}, process: {command: []}}\n", "spec.target.process.command"},
		{"too many replicas", "  target: {selector: {matchLabels: {app: shop}}, process: {command: [./shop], replicas: 11}}\n", "spec.target.process.replicas"},
		{"bad env name", "  target: {selector: {matchLabels: {app: shop}}, process: {command: [./shop], env: [{name: 1X, value: v}]}}\n", "spec.target.process.env[0].name"},
		{"metrics path", "  target: {selector: {matchLabels: {app: shop}}, metricsPath: metrics}\n", "spec.target.metricsPath"},
		{"port", "  target: {selector: {matchLabels: {app: shop}}, port: 70000}\n", "spec.target.port"},
		{"method", "  victim: {}\n  load: {request: {method: FETCH}}\n", "spec.load.request.method"},
		{"path", "  victim: {}\n  load: {request: {path: orders}}\n", "spec.load.request.path"},
		{"header", "  victim: {}\n  load: {request: {headers: {\"Bad Name\": x}}}\n", "spec.load.request.headers[Bad Name]"},
		{"success code", "  victim: {}\n  load: {request: {successCodes: [200, \"299-200\"]}}\n", "spec.load.request.successCodes[1]"},
		{"success code range", "  victim: {}\n  load: {request: {successCodes: [700]}}\n", "spec.load.request.successCodes[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs := v1alpha1.Validate(loadOwn(t, c.spec))
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), c.field) {
				t.Errorf("errors %v should name %s", errs, c.field)
			}
		})
	}
	t.Run("zero replicas", func(t *testing.T) {
		_, err := v1alpha1.Load([]byte(targetHead + "  target: {selector: {matchLabels: {app: shop}}, process: {command: [./shop], replicas: 0}}\n"))
		if err == nil || !strings.Contains(err.Error(), "spec.target.process.replicas") {
			t.Errorf("error %v should name spec.target.process.replicas", err)
		}
	})
	t.Run("request args", func(t *testing.T) {
		e := loadOwn(t, "  victim: {}\n  load: {request: {method: POST, path: /v3/kv/put, body: '{\"key\": \"{{.ID}}\"}', successCodes: [200]}}\n")
		args := e.Spec.Load.RequestArgs()
		if len(args) != 1 || !strings.HasPrefix(args[0], "--request={") || !strings.Contains(args[0], `"successCodes":[200]`) {
			t.Errorf("args %q", args)
		}
		if a := (v1alpha1.LoadSpec{}).RequestArgs(); a != nil {
			t.Errorf("no request: args %q, want none (the victim's payment)", a)
		}
	})
}
