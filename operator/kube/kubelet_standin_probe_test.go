package kube_test

import (
	"net"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cascadelab/cascadelab/operator/kube"
)

// probe is a container probe as the kubelet runs it, resolved to the pod's
// loopback ports. Only HTTP GET and TCP socket probes are run; others are
// logged and taken as passing.
type probe struct {
	kind             string // "readiness" or "liveness"
	http             bool
	path, port       string
	supported        bool
	initialDelay     time.Duration
	period, timeout  time.Duration
	success, failure int
}

// newProbe resolves p (nil: no probe) for container ctr of pod pp.
func (k *KubeletStandIn) newProbe(pp *podProc, ctr *corev1.Container, p *corev1.Probe, kind string) *probe {
	if p == nil {
		return nil
	}
	secs := func(v, def int32) time.Duration {
		if v <= 0 {
			v = def
		}
		return time.Duration(v) * time.Second
	}
	n := func(v, def int32) int {
		if v <= 0 {
			return int(def)
		}
		return int(v)
	}
	pr := &probe{kind: kind, initialDelay: time.Duration(p.InitialDelaySeconds) * time.Second,
		period: secs(p.PeriodSeconds, 10), timeout: secs(p.TimeoutSeconds, 1),
		success: n(p.SuccessThreshold, 1), failure: n(p.FailureThreshold, 3)}
	var port intstr.IntOrString
	switch {
	case p.HTTPGet != nil:
		pr.http, pr.path, port, pr.supported = true, p.HTTPGet.Path, p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		port, pr.supported = p.TCPSocket.Port, true
	default:
		k.t.Logf("kubelet stand-in: pod %s: %s probe of a kind the stand-in does not run: taken as passing", pp.pod, kind)
		return pr
	}
	pr.port = pp.loopbackPort(ctr, port)
	return pr
}

// loopbackPort maps a container port (by name or number) to the pod's
// loopback port: the port named "admin" (or numbered kube.AdminPort) to the
// admin port, any other to the app port.
func (pp *podProc) loopbackPort(ctr *corev1.Container, port intstr.IntOrString) string {
	num := port.IntVal
	if port.Type == intstr.String {
		for _, cp := range ctr.Ports {
			if cp.Name == port.StrVal {
				num = cp.ContainerPort
			}
		}
	}
	for _, cp := range ctr.Ports {
		if cp.ContainerPort == num && cp.Name == "admin" {
			return pp.ports[1]
		}
	}
	if num == kube.AdminPort {
		return pp.ports[1]
	}
	return pp.ports[0]
}

// check runs the probe once.
func (pr *probe) check() bool {
	if !pr.supported {
		return true
	}
	addr := net.JoinHostPort("127.0.0.1", pr.port)
	if !pr.http {
		c, err := net.DialTimeout("tcp", addr, pr.timeout)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: pr.timeout}).Get("http://" + addr + pr.path)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// probeContainer runs c's readiness and liveness probes until it exits:
// Ready follows readiness (a container without a readiness probe is ready
// once started), and liveness failing failureThreshold times in a row
// marks c unhealthy, which stops it.
func (k *KubeletStandIn) probeContainer(pp *podProc, c *container) {
	setReady := func(ready bool) {
		select {
		case <-c.exited:
			return
		default:
		}
		k.setStatus(pp.pod, func(s *corev1.PodStatus) {
			s.ContainerStatuses[0].Ready = ready
			setReadyCond(s, ready)
		})
	}
	if pp.readiness == nil {
		setReady(true)
	} else {
		ready := false
		go k.runProbe(c, pp.readiness, func(ok bool) bool {
			if ok != ready {
				ready = ok
				setReady(ok)
			}
			return true
		})
	}
	if pp.liveness != nil {
		k.runProbe(c, pp.liveness, func(ok bool) bool {
			if ok {
				return true
			}
			k.t.Logf("kubelet stand-in: pod %s: liveness probe failed: container will be restarted", pp.pod)
			close(c.unhealthy)
			return false
		})
	}
}

// runProbe probes every period from initialDelay on, until c exits or
// result returns false; result gets true after success passes in a row and
// false after failure failures in a row.
func (k *KubeletStandIn) runProbe(c *container, pr *probe, result func(ok bool) bool) {
	wait := pr.initialDelay
	passes, fails := 0, 0
	for {
		t := time.NewTimer(wait)
		select {
		case <-c.exited:
			t.Stop()
			return
		case <-t.C:
		}
		wait = pr.period
		if pr.check() {
			passes, fails = passes+1, 0
			if passes >= pr.success && !result(true) {
				return
			}
		} else {
			passes, fails = 0, fails+1
			if fails >= pr.failure && !result(false) {
				return
			}
		}
	}
}
