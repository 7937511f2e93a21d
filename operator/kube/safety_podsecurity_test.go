package kube_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	krand "k8s.io/apimachinery/pkg/util/rand"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// podTemplate is one pod the kit runs: a victim role, the load generator or
// the manager.
type podTemplate struct {
	name string
	spec corev1.PodSpec
}

// victimBuild returns what the reconciler creates for a victim drill: the
// objects of StartVictim (with a ledger PVC) and the load Job.
func victimBuild(t *testing.T) ([]client.Object, []podTemplate, []*corev1.Service) {
	t.Helper()
	exp := drill("drills", "sec", v1alpha1.CacheRacy, v1alpha1.IdempotencyNone, v1alpha1.GatewayLeaky)
	exp.UID = "0d6f7c8e-1111-2222-3333-444455556666"
	objs := append(kube.VictimObjects(exp, "ghcr.io/cascadelab/victim:dev", "1Gi"), kube.LoadJob(exp, "ghcr.io/cascadelab/victim:dev", "http://sec-gateway:8080"))
	var pods []podTemplate
	var svcs []*corev1.Service
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			pods = append(pods, podTemplate{"Deployment/" + o.Name, o.Spec.Template.Spec})
		case *batchv1.Job:
			pods = append(pods, podTemplate{"Job/" + o.Name, o.Spec.Template.Spec})
		case *corev1.Service:
			svcs = append(svcs, o)
		}
	}
	if len(pods) != 4 || len(svcs) != 3 {
		t.Fatalf("built %d pod templates and %d services, want 4 (gateway, orders, ledger, load) and 3", len(pods), len(svcs))
	}
	return objs, pods, svcs
}

// managerManifests reads the Deployment and Services of manifests/manager.
func managerManifests(t *testing.T) (*appsv1.Deployment, []*corev1.Service) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "manager", "manager.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	var svcs []*corev1.Service
	dec := clientgoscheme.Codecs.UniversalDeserializer()
	for _, doc := range bytes.Split(b, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("manager.yaml: %v", err)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			dep = o
		case *corev1.Service:
			svcs = append(svcs, o)
		}
	}
	if dep == nil {
		t.Fatal("no Deployment in manifests/manager/manager.yaml")
	}
	return dep, svcs
}

// restrictedProblems lists what keeps a pod from the restricted Pod
// Security Standard, plus the kit's own rules: a read-only root file
// system and CPU and memory requests with a memory limit.
func restrictedProblems(spec corev1.PodSpec) []string {
	var out []string
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		out = append(out, "host namespaces")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			out = append(out, "hostPath volume "+v.Name)
		}
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		out = append(out, "pod runAsUser 0")
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		bad := func(format string, args ...any) { out = append(out, c.Name+": "+fmt.Sprintf(format, args...)) }
		if !ptr.Deref(sc.RunAsNonRoot, ptr.Deref(psc.RunAsNonRoot, false)) {
			bad("runAsNonRoot not true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			bad("runAsUser 0")
		}
		if ptr.Deref(sc.AllowPrivilegeEscalation, true) {
			bad("allowPrivilegeEscalation not false")
		}
		if ptr.Deref(sc.Privileged, false) {
			bad("privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			bad("capabilities do not drop ALL")
		} else if len(sc.Capabilities.Add) > 0 {
			bad("capabilities add %v", sc.Capabilities.Add)
		}
		sp := sc.SeccompProfile
		if sp == nil {
			sp = psc.SeccompProfile
		}
		if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			bad("seccompProfile not RuntimeDefault")
		}
		if !ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
			bad("readOnlyRootFilesystem not true")
		}
		r := c.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			bad("resources: requests %v, limits %v (want cpu and memory requests and a memory limit)", r.Requests, r.Limits)
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				bad("hostPort %d", p.HostPort)
			}
		}
	}
	return out
}

// TestSafetyPodSecurity checks the pods the reconciler creates (victim
// roles and load generator) and the manager's Deployment against the
// restricted Pod Security Standard, and that the victim's Services expose
// only the app port, inside the cluster.
func TestSafetyPodSecurity(t *testing.T) {
	_, pods, svcs := victimBuild(t)
	dep, mgrSvcs := managerManifests(t)
	pods = append(pods, podTemplate{"manager Deployment/" + dep.Name, dep.Spec.Template.Spec})
	for _, p := range pods {
		for _, problem := range restrictedProblems(p.spec) {
			t.Errorf("%s: %s", p.name, problem)
		}
		if p.name != "manager Deployment/"+dep.Name && ptr.Deref(p.spec.AutomountServiceAccountToken, true) {
			t.Errorf("%s: mounts a service account token it does not need", p.name)
		}
	}
	// The checker itself must catch a non-restricted pod.
	bad := pods[0].spec.DeepCopy()
	bad.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	bad.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
	if n := len(restrictedProblems(*bad)); n != 2 {
		t.Errorf("checker found %d problems in a pod with 2", n)
	}

	for _, s := range svcs {
		if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("victim Service %s is %s, want ClusterIP", s.Name, s.Spec.Type)
		}
		if len(s.Spec.ExternalIPs) > 0 {
			t.Errorf("victim Service %s has external IPs %v", s.Name, s.Spec.ExternalIPs)
		}
		for _, p := range s.Spec.Ports {
			// The admin port serves /debug/pprof and /debug/goleak: it is
			// scraped on the pod IP and must not be reachable through a Service.
			if p.Port != kube.AppPort || p.TargetPort.String() != "http" || p.NodePort != 0 {
				t.Errorf("victim Service %s exposes port %s %d → %s (nodePort %d); want only http %d → http",
					s.Name, p.Name, p.Port, p.TargetPort.String(), p.NodePort, kube.AppPort)
			}
		}
	}
	for _, s := range mgrSvcs {
		if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("manager Service %s is %s, want ClusterIP", s.Name, s.Spec.Type)
		}
		for _, p := range s.Spec.Ports {
			if p.Name != "metrics" {
				t.Errorf("manager Service %s exposes %s (%d); only metrics expected", s.Name, p.Name, p.Port)
			}
		}
	}
}

// TestSafetyPodSecurityAdmission asks a real API server, in a namespace
// that enforces the restricted standard, to admit (dry run) a pod of every
// template; a pod allowing privilege escalation must be refused there, or the check proves
// nothing.
func TestSafetyPodSecurityAdmission(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest")
	}
	_, pods, _ := victimBuild(t)
	dep, _ := managerManifests(t)
	pods = append(pods, podTemplate{"manager Deployment/" + dep.Name, dep.Spec.Template.Spec})
	e := startEnv(t)
	ctx := context.Background()
	ns := "psa-" + krand.String(6)
	if err := e.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
	}}}); err != nil {
		t.Fatal(err)
	}
	create := func(name string, spec corev1.PodSpec) error {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
		return e.c.Create(ctx, pod, client.DryRunAll)
	}
	for i, p := range pods {
		if err := create(fmt.Sprintf("pod-%d", i), p.spec); err != nil {
			t.Errorf("%s refused under restricted pod security: %v", p.name, err)
		} else {
			t.Logf("%s admitted under enforce=restricted", p.name)
		}
	}
	priv := pods[0].spec.DeepCopy()
	priv.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	err := create("escalating", *priv)
	if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
		t.Fatalf("a pod allowing privilege escalation was not refused by PodSecurity admission (err %v): the check above proves nothing", err)
	}
}
