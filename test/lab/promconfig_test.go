package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// promConfig mirrors the part of Prometheus' config the lab uses; decoding
// is strict, so a misspelt or unexpected field fails. (Debian's promtool
// 2.42 is built without Kubernetes service discovery and rejects
// kubernetes_sd_configs, and Prometheus' own config package pulls in every
// cloud SDK, so the relabel rules are checked with Prometheus' relabel
// package instead, on the targets Kubernetes discovery would produce.)
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName             string `yaml:"job_name"`
		KubernetesSDConfigs []struct {
			Role string `yaml:"role"`
		} `yaml:"kubernetes_sd_configs"`
		RelabelConfigs []*relabel.Config `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

func loadPromConfig(t *testing.T) *promConfig {
	t.Helper()
	f := filepath.Join(testenv.RepoRoot(), "manifests", "monitoring", "prometheus", "prometheus.yml")
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var cfg promConfig
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	if err := d.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", rel(f), err)
	}
	for _, d := range []string{cfg.Global.ScrapeInterval, cfg.Global.ScrapeTimeout, cfg.Global.EvaluationInterval} {
		if _, err := model.ParseDuration(d); err != nil {
			t.Errorf("%s: global: %v", rel(f), err)
		}
	}
	if len(cfg.ScrapeConfigs) != 1 || len(cfg.ScrapeConfigs[0].KubernetesSDConfigs) != 1 || cfg.ScrapeConfigs[0].KubernetesSDConfigs[0].Role != "pod" {
		t.Fatalf("%s: want one job with kubernetes_sd_configs role pod", rel(f))
	}
	for i, rc := range cfg.ScrapeConfigs[0].RelabelConfigs {
		rc.NameValidationScheme = model.UTF8Validation
		if err := rc.Validate(model.UTF8Validation); err != nil {
			t.Errorf("%s: relabel_configs[%d]: %v", rel(f), i, err)
		}
	}
	return &cfg
}

var unsafe = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sdTarget is what Kubernetes pod discovery gives for one container port.
func sdTarget(ns, pod, ip string, podLabels, annotations map[string]string, portName string, port int64, phase string) labels.Labels {
	m := map[string]string{
		model.AddressLabel:                          ip,
		"__meta_kubernetes_namespace":               ns,
		"__meta_kubernetes_pod_name":                pod,
		"__meta_kubernetes_pod_phase":               phase,
		"__meta_kubernetes_pod_container_port_name": portName,
	}
	if port > 0 {
		m[model.AddressLabel] = ip + ":" + itoa(port)
	}
	for k, v := range podLabels {
		m["__meta_kubernetes_pod_label_"+unsafe.ReplaceAllString(k, "_")] = v
	}
	for k, v := range annotations {
		m["__meta_kubernetes_pod_annotation_"+unsafe.ReplaceAllString(k, "_")] = v
	}
	return labels.FromMap(m)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPrometheusRelabel runs the lab's relabel rules over the targets
// Kubernetes discovery gives for a victim pod (as operator/kube labels it),
// the manager pod (as manifests/default annotates it) and pods that must
// not be scraped, and checks what is kept and the labels the engine's
// queries select on.
func TestPrometheusRelabel(t *testing.T) {
	rules := loadPromConfig(t).ScrapeConfigs[0].RelabelConfigs
	process := func(in labels.Labels) (labels.Labels, bool) {
		lb := labels.NewBuilder(in)
		keep := relabel.ProcessBuilder(lb, rules...)
		return lb.Labels(), keep
	}

	victimLabels := kube.Labels("map-panic-cascade", kube.RoleOrders)
	const ip = "10.244.1.7"
	// The victim's admin port: kept, with the query labels.
	got, keep := process(sdTarget("cascadelab-drills", "map-panic-cascade-orders-7d9f", ip, victimLabels, nil, "admin", kube.AdminPort, "Running"))
	if !keep {
		t.Fatalf("victim admin port dropped")
	}
	want := map[string]string{
		model.AddressLabel: ip + ":" + itoa(kube.AdminPort), "namespace": "cascadelab-drills",
		"pod": "map-panic-cascade-orders-7d9f", "component": kube.RoleOrders, "experiment": "map-panic-cascade",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("victim target: %s = %q, want %q (all: %v)", k, got.Get(k), v, got)
		}
	}
	if got.Get(model.MetricsPathLabel) != "" {
		t.Errorf("victim target: metrics path rewritten to %q", got.Get(model.MetricsPathLabel))
	}
	// Its app port, a finished pod and an unrelated pod: dropped.
	for name, in := range map[string]labels.Labels{
		"victim app port":  sdTarget("cascadelab-drills", "o", ip, victimLabels, nil, "http", kube.AppPort, "Running"),
		"finished loadgen": sdTarget("cascadelab-drills", "l", ip, kube.Labels("x", kube.RoleLoadgen), nil, "admin", kube.AdminPort, "Succeeded"),
		"unrelated pod":    sdTarget("default", "web", ip, map[string]string{"app": "web"}, nil, "http", 8080, "Running"),
	} {
		if _, keep := process(in); keep {
			t.Errorf("%s: scraped, want dropped", name)
		}
	}

	// The manager, as manifests/default deploys it: every container port
	// lands on the annotated metrics port.
	var mgr *unstructured.Unstructured
	for _, o := range render(t, filepath.Join(testenv.RepoRoot(), "manifests", "default")) {
		if o.GetKind() == "Deployment" && o.GetName() == "cascadelab-manager" {
			mgr = o
		}
	}
	if mgr == nil {
		t.Fatal("manifests/default: no cascadelab-manager Deployment")
	}
	podLabels, _, _ := unstructured.NestedStringMap(mgr.Object, "spec", "template", "metadata", "labels")
	ann, _, _ := unstructured.NestedStringMap(mgr.Object, "spec", "template", "metadata", "annotations")
	cs, _, _ := unstructured.NestedSlice(mgr.Object, "spec", "template", "spec", "containers")
	ports, _, _ := unstructured.NestedSlice(cs[0].(map[string]any), "ports")
	if len(ports) == 0 {
		t.Fatal("manager container has no ports")
	}
	for _, p := range ports {
		pm := p.(map[string]any)
		name, _ := pm["name"].(string)
		got, keep := process(sdTarget(mgr.GetNamespace(), "cascadelab-manager-5c8d", "10.244.0.9", podLabels, ann, name, toInt64(pm["containerPort"]), "Running"))
		if !keep {
			t.Errorf("manager port %s dropped", name)
			continue
		}
		if got.Get(model.AddressLabel) != "10.244.0.9:"+ann["prometheus.io/port"] || got.Get("namespace") != mgr.GetNamespace() {
			t.Errorf("manager port %s: target %v, want address 10.244.0.9:%s", name, got, ann["prometheus.io/port"])
		}
		if got.Get("experiment") != "" {
			t.Errorf("manager target has an experiment label %q: it would clash with cascadelab_faults_active's", got.Get("experiment"))
		}
	}
}
