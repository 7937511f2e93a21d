package kube

import (
	"fmt"
	"math"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// DefaultVictimImage is the victim image used when spec.victim.image is empty
// and the reconciler has no VictimImage of its own.
const DefaultVictimImage = "ghcr.io/cascadelab/victim:latest"

// ObjectName is the name of the object for role of experiment exp.
func ObjectName(exp, role string) string { return exp + "-" + role }

// Labels are the labels of every object of role in experiment exp; victim
// pods carry them, so fault selectors can find them by component.
func Labels(exp, role string) map[string]string {
	return map[string]string{
		LabelName:       NameVictim,
		LabelComponent:  role,
		LabelInstance:   exp,
		LabelExperiment: exp,
		LabelManagedBy:  ManagedBy,
	}
}

// victimObjects returns what StartVictim creates for an Experiment with
// spec.victim: the ledger's PVC (when storage is set), three Deployments and
// three Services, in dependency order.
func victimObjects(exp *v1alpha1.Experiment, image, storage string) []client.Object {
	v := exp.Spec.Victim
	name := exp.Name
	url := func(role string) string { return fmt.Sprintf("http://%s:%d", ObjectName(name, role), AppPort) }
	retries := int32(2)
	if v.Gateway.Retries != nil {
		retries = *v.Gateway.Retries
	}
	timeout := v.Gateway.Timeout.Duration.String()
	if v.Gateway.Timeout.Duration == 0 {
		timeout = "500ms"
	}
	replicas := v.Orders.Replicas
	if replicas < 1 {
		replicas = 1
	}
	var objs []client.Object
	vol := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	if storage != "" {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: objMeta(exp, ObjectName(name, RoleLedger)+"-data", RoleLedger),
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse(storage)}},
			},
		}
		objs = append(objs, pvc)
		vol.VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name}}
	}
	ledger := deployment(exp, RoleLedger, image, 1, []string{
		"--idempotency=" + string(orDefault(string(v.Ledger.Idempotency), "none")),
		"--data-dir=/data",
	})
	ledger.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	ledger.Spec.Template.Spec.Volumes = append(ledger.Spec.Template.Spec.Volumes, vol)
	c := &ledger.Spec.Template.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	orders := deployment(exp, RoleOrders, image, replicas, append([]string{
		"--cache=" + orDefault(string(v.Orders.Cache), "racy"),
		"--ledger-url=" + url(RoleLedger),
	}, v.Orders.JanitorArgs()...))
	gateway := deployment(exp, RoleGateway, image, 1, []string{
		"--mode=" + orDefault(string(v.Gateway.Mode), "leaky"),
		"--orders-url=" + url(RoleOrders),
		"--timeout=" + timeout,
		"--retries=" + strconv.Itoa(int(retries)),
	})
	objs = append(objs, ledger, service(exp, RoleLedger), orders, service(exp, RoleOrders), gateway, service(exp, RoleGateway))
	return objs
}

// loadBackstop is how long the load generator runs past the drill's length
// when nothing stops it.
const loadBackstop = 2 * time.Minute

// loadJob returns the Job that StartLoad creates: the victim image in the
// loadgen role, sending load at target for the drill's duration.
func loadJob(exp *v1alpha1.Experiment, image, target string) *batchv1.Job {
	rate := exp.Spec.Load.Rate
	if rate < 1 {
		rate = 100
	}
	spec := podSpec(image, RoleLoadgen, probeTimeout(exp), append([]string{
		"--target=" + target,
		"--rate=" + strconv.Itoa(int(rate)),
		"--duplicate-ratio=" + orDefault(exp.Spec.Load.DuplicateRatio, "0.1"),
		// The load runs until the drill stops it (deleting the Job), as the
		// local backend's does; the duration is only a backstop, should
		// nothing delete it: the drill's length plus loadBackstop.
		"--duration=" + (exp.Spec.Duration.Duration + loadBackstop).String(),
	}, append(exp.Spec.Load.DuplicateAfterArgs(), exp.Spec.Load.RequestArgs()...)...))
	spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: objMeta(exp, ObjectName(exp.Name, "load"), RoleLoadgen),
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(exp.Name, RoleLoadgen)},
				Spec:       spec,
			},
		},
	}
}

func objMeta(exp *v1alpha1.Experiment, name, role string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: exp.Namespace, Labels: Labels(exp.Name, role),
		OwnerReferences: []metav1.OwnerReference{ownerRef(exp)},
	}
}

// ownerRef makes exp the controller owner of an object.
func ownerRef(exp *v1alpha1.Experiment) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "Experiment",
		Name: exp.Name, UID: exp.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
}

// probeTimeout is the victim's probe timeout in seconds: one second above
// the largest latency (plus jitter) any fault of exp injects, at least 1.
func probeTimeout(exp *v1alpha1.Experiment) int32 {
	var most time.Duration
	for _, f := range exp.Spec.Faults {
		if nc := f.NetworkChaos; nc != nil && nc.Delay != nil {
			lat, _ := time.ParseDuration(nc.Delay.Latency)
			jit, _ := time.ParseDuration(nc.Delay.Jitter)
			most = max(most, lat+jit)
		}
	}
	return int32(math.Ceil(most.Seconds())) + 1
}

func deployment(exp *v1alpha1.Experiment, role, image string, replicas int32, args []string) *appsv1.Deployment {
	sel := map[string]string{LabelInstance: exp.Name, LabelComponent: role, LabelName: NameVictim}
	return &appsv1.Deployment{
		ObjectMeta: objMeta(exp, ObjectName(exp.Name, role), role),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(exp.Name, role)},
				Spec:       podSpec(image, role, probeTimeout(exp), append([]string{fmt.Sprintf("--listen=:%d", AppPort)}, args...)),
			},
		},
	}
}

// podSpec is a restricted pod running the victim in role. The crash text of
// a fatal error survives in lastState.terminated.message because the
// termination log stays empty and FallbackToLogsOnError reads the log tail
// (the default GOTRACEBACK keeps the headline within 2 KiB / 80 lines).
//
// The probes' timeout is above the largest latency the drill injects
// (probeTimeout): a NetworkChaos delay on the pod's egress delays the
// kubelet's probes too, and a probe that times out because of the fault it
// suffers would take the pod out of its Service (readiness) or restart it
// (liveness) — the kit's own probe, not the fault, would be judged.
func podSpec(image, role string, timeout int32, args []string) corev1.PodSpec {
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("admin")}},
			PeriodSeconds:  max(2, timeout),
			TimeoutSeconds: timeout, FailureThreshold: 3,
		}
	}
	ports := []corev1.ContainerPort{{Name: "admin", ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP}}
	if role != RoleLoadgen {
		ports = append([]corev1.ContainerPort{{Name: "http", ContainerPort: AppPort, Protocol: corev1.ProtocolTCP}}, ports...)
	}
	return corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), FSGroup: ptr.To[int64](65532),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  "victim",
			Image: image,
			Args:  append([]string{"--role=" + role, fmt.Sprintf("--admin-listen=:%d", AdminPort)}, args...),
			Ports: ports,
			// The victim names itself by its pod in its log events.
			Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			ReadinessProbe:           probe("/readyz"),
			LivenessProbe:            probe("/healthz"),
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

// service is the ClusterIP Service of a victim role. It carries the app
// port only: the admin port serves /debug/pprof and /debug/goleak, and is
// scraped on the pod IP (by the reconciler and by Prometheus' pod discovery),
// never through a Service that other namespaces can reach.
func service(exp *v1alpha1.Experiment, role string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objMeta(exp, ObjectName(exp.Name, role), role),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{LabelInstance: exp.Name, LabelComponent: role, LabelName: NameVictim},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: AppPort, TargetPort: intstr.FromString("http")},
			},
		},
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
