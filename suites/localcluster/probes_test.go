//go:build localcluster

package localcluster

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
)

// Every fixture pod runs the local images, Ready, and without a sidecar (INJECT=none).
func TestFixturesReadyUninjected(t *testing.T) {
	images, err := fixtures.RunImages(mustVariant(t))
	if err != nil {
		t.Fatal(err)
	}
	pods, err := kube.CoreV1().Pods("").List(ctxFor(t, time.Minute), metav1.ListOptions{LabelSelector: mesh.ManagedSelector})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(w.Topology.Clients) + len(w.Topology.Servers); len(pods.Items) != want {
		t.Errorf("%d managed pods, want %d (one per fixture Deployment)", len(pods.Items), want)
	}
	for _, p := range pods.Items {
		if mesh.HasSidecar(&p) {
			t.Errorf("%s/%s has a sidecar", p.Namespace, p.Name)
		}
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("%s/%s is not Ready", p.Namespace, p.Name)
		}
		for _, c := range p.Spec.Containers {
			if !slices.Contains(images, c.Image) {
				t.Errorf("%s/%s runs %s, not one of the run's images %v", p.Namespace, p.Name, c.Image, images)
			}
		}
	}
}

// Plaintext from the un-injected clients to httpbin.legacy on every Service port, through the
// real kubelet's exec: curl exit 0, HTTP 200, no X-Forwarded-Client-Cert.
func TestProbesThroughKubelet(t *testing.T) {
	server := fixtures.Ref{Name: "httpbin", Namespace: "legacy"}
	svc, ok := w.Topology.Service(server)
	if !ok {
		t.Fatal("no Service httpbin.legacy")
	}
	plaintext := scenarios.Outcome{ExitCode: 0, HTTPCode: 200}
	var probes []probe.Probe
	for _, client := range []fixtures.Ref{{Name: "sleep", Namespace: "legacy"}, {Name: "curl", Namespace: "utilities"}} {
		for _, port := range svc.Ports {
			target, err := probe.TargetFor(w.Topology, scenarios.Probe{From: client, To: server, Port: port.Port})
			if err != nil {
				t.Fatal(err)
			}
			probes = append(probes, probe.Probe{Target: target, Expected: plaintext})
		}
	}
	for _, r := range probe.RunMatrix(ctxFor(t, timeouts.Probe), w.Exec, probes, w.ProbeOptions()) {
		if !r.Converged {
			t.Errorf("%s: %v", r.Probe.Target, r.Err)
			continue
		}
		if r.Last.ExitCode != 0 || r.Last.HTTPCode != 200 || r.Last.XFCC != nil || r.Last.Headers == nil {
			t.Errorf("%s: exit %d, HTTP %d, XFCC %v, headers echoed %v", r.Probe.Target, r.Last.ExitCode, r.Last.HTTPCode, r.Last.XFCC, r.Last.Headers != nil)
		}
		t.Logf("%s: %s in %d attempts, exec %s", r.Probe.Target, r.Last, r.Attempts, r.Last.Duration.Round(time.Millisecond))
	}
}

// Real failures through the same path: a closed port (curl exit 7, connection refused by the
// pod's kernel) and a server that does not answer within --max-time (exit 28; go-httpbin's
// /delay/10 against a 2 s limit). Both stay inside the cluster.
func TestRealFailuresThroughKubelet(t *testing.T) {
	ctx := ctxFor(t, timeouts.Probe)
	pods, err := kube.CoreV1().Pods("legacy").List(ctx, metav1.ListOptions{LabelSelector: "app=httpbin"})
	if err != nil || len(pods.Items) == 0 || pods.Items[0].Status.PodIP == "" {
		t.Fatalf("httpbin.legacy pod IP: %v (%d pods)", err, len(pods.Items))
	}
	client, _ := w.Topology.Workload(fixtures.Ref{Name: "sleep", Namespace: "legacy"})
	closed := probe.Target{Client: client, Host: "httpbin.legacy", Port: 9999, Resolve: pods.Items[0].Status.PodIP}
	if obs := probe.Once(ctx, w.Exec, closed, probe.Options{}); obs.ExitCode != 7 || obs.HTTPCode != 0 {
		t.Errorf("closed port: %s, want curl exit 7 and HTTP 000", obs)
	}
	slow := probe.Target{Client: client, Host: "httpbin.legacy", Port: 8000, Path: "/delay/10"}
	if obs := probe.Once(ctx, w.Exec, slow, probe.Options{MaxTime: 2 * time.Second}); obs.ExitCode != 28 || obs.HTTPCode != 0 {
		t.Errorf("no answer within --max-time: %s, want curl exit 28 and HTTP 000", obs)
	}
}

// PortForwardGet through the real kubelet, as the ambient barrier reads ztunnel's admin port:
// httpbin.legacy's pod answers on its workload port; a status other than 200 and a port nothing
// listens on are errors naming the pod.
func TestPortForwardGet(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	server, ok := w.Topology.Workload(fixtures.Ref{Name: "httpbin", Namespace: "legacy"})
	if !ok {
		t.Fatal("no workload httpbin.legacy")
	}
	pods, err := kube.CoreV1().Pods(server.Namespace).List(ctx, metav1.ListOptions{LabelSelector: mesh.ManagedSelector})
	if err != nil {
		t.Fatal(err)
	}
	var pod string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Labels["app"] == "httpbin" {
			pod = p.Name
		}
	}
	if pod == "" {
		t.Fatal("no httpbin pod in legacy")
	}
	port := server.ContainerPorts[0]
	body, err := kubeexec.PortForwardGet(ctx, w.Config, server.Namespace, pod, port, "/headers")
	if err != nil || !strings.Contains(string(body), `"headers"`) {
		t.Errorf("GET /headers on %s port %d: %v, body %.200q", pod, port, err, body)
	}
	if _, err := kubeexec.PortForwardGet(ctx, w.Config, server.Namespace, pod, port, "/status/503"); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("GET /status/503: %v, want an error naming the status", err)
	}
	if _, err := kubeexec.PortForwardGet(ctx, w.Config, server.Namespace, pod, 15000, "/config_dump"); err == nil || !strings.Contains(err.Error(), pod) {
		t.Errorf("GET on a port nothing listens on: %v, want an error naming the pod", err)
	}
}
