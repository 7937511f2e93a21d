package kube_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// registerNode registers the stand-in as a Node (named after its
// namespace) whose kubelet endpoint, on loopback over TLS as a kubelet's,
// serves /containerLogs/{namespace}/{pod}/{container} with the kubelet's
// previous, tailLines, timestamps and limitBytes parameters, so that the API server's
// pods/log reaches the stand-in's containers as it reaches a kubelet's. The
// API server, without --kubelet-certificate-authority, does not verify the
// kubelet's certificate. The Node is deleted when the test ends.
func (k *KubeletStandIn) registerNode() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(k.serveLogs))
	srv.StartTLS()
	k.t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)

	k.node = "kubelet-standin-" + k.ns
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.node}}
	if err := k.c.Create(ctx, node); err != nil {
		k.t.Fatalf("kubelet stand-in: registering node: %v", err)
	}
	k.t.Cleanup(func() { _ = k.c.Delete(context.Background(), node) })
	node.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(p)}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	if err := k.c.Status().Update(ctx, node); err != nil {
		k.t.Fatalf("kubelet stand-in: node status: %v", err)
	}
}

// serveLogs answers the API server's log requests as the kubelet does: the
// container is the running one (or the last exited), or with previous=true
// the one in the pod's lastState.terminated.containerID; an unknown one is
// 404 with the kubelet's message.
func (k *KubeletStandIn) serveLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 || parts[0] != k.ns {
		http.NotFound(w, r)
		return
	}
	podName, ctrName := parts[1], parts[2]
	q := r.URL.Query()
	previous, _ := strconv.ParseBool(q.Get("previous"))
	var pod corev1.Pod
	if err := k.c.Get(r.Context(), client.ObjectKey{Namespace: k.ns, Name: podName}, &pod); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var id string
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != ctrName {
			continue
		}
		switch {
		case previous:
			if t := cs.LastTerminationState.Terminated; t != nil {
				id = t.ContainerID
			}
		case cs.State.Running != nil:
			id = cs.ContainerID
		case cs.State.Terminated != nil:
			id = cs.State.Terminated.ContainerID
		case cs.LastTerminationState.Terminated != nil:
			id = cs.LastTerminationState.Terminated.ContainerID
		}
	}
	k.mu.Lock()
	pp := k.procs[podName]
	k.mu.Unlock()
	var c *container
	if pp != nil && id != "" {
		pp.mu.Lock()
		for _, rc := range pp.recent {
			if rc.id == id {
				c = rc
			}
		}
		pp.mu.Unlock()
	}
	if c == nil {
		what := "container"
		if previous {
			what = "previous terminated container"
		}
		http.Error(w, what+" "+strconv.Quote(ctrName)+" in pod "+strconv.Quote(podName)+" not found", http.StatusBadRequest)
		return
	}
	lines := c.logs.lines()
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	// timestamps=true puts the runtime's RFC 3339 time of each entry before
	// it, as the kubelet does.
	stamps, _ := strconv.ParseBool(q.Get("timestamps"))
	var b []byte
	for _, l := range lines {
		if stamps {
			b = append(b, l.at.UTC().Format(time.RFC3339Nano)+" "...)
		}
		b = append(b, l.text...)
	}
	// limitBytes keeps the first bytes, as the kubelet does.
	if n, err := strconv.Atoi(q.Get("limitBytes")); err == nil && n >= 0 && len(b) > n {
		b = b[:n]
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(b)
}
