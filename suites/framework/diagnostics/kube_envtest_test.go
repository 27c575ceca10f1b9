package diagnostics

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
)

// Against a real kube-apiserver with Istio's CRDs: PolicyResources name resources the CRDs
// serve, and Collect gathers policies, events and pods through client-go. Pods never start (no
// kubelet), so their logs are empty and the config_dump exec fails; the failure lands in
// collection-errors.txt instead of stopping the collection.
func TestCollectAgainstRealAPIServer(t *testing.T) {
	env := envtestenv.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	client := env.Kube(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"foo", "legacy", "istio-system"} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// No controller-manager creates the default ServiceAccount; admission requires it.
		if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	serverPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "httpbin-1", Namespace: "foo", Labels: httpbin.PodLabels,
			Annotations: map[string]string{"sidecar.istio.io/status": "{}"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{
				{Name: "httpbin", Image: "mccutchen/go-httpbin:v2.15.0"},
				{Name: mesh.SidecarContainer, Image: "docker.io/istio/proxyv2:1.31.1"},
			},
		},
	}
	if _, err := client.CoreV1().Pods("foo").Create(ctx, serverPod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Events("foo").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "httpbin-1.scheduled", Namespace: "foo"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "foo", Name: "httpbin-1"},
		Type:           "Warning", Reason: "FailedScheduling", Message: "0/1 nodes are available",
		LastTimestamp: metav1.NewTime(base),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pa := strictFoo()
	pa.SetManagedFields(nil)
	if _, err := dyn.Resource(PolicyResources[0]).Namespace("foo").Create(ctx, &pa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("PeerAuthentication via %v: %v", PolicyResources[0], err)
	}
	dr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"name": "httpbin-foo", "namespace": "legacy"},
		"spec":     map[string]any{"host": "httpbin.foo.svc.cluster.local", "trafficPolicy": map[string]any{"tls": map[string]any{"mode": "ISTIO_MUTUAL"}}},
	}}
	if _, err := dyn.Resource(PolicyResources[1]).Namespace("legacy").Create(ctx, dr, metav1.CreateOptions{}); err != nil {
		t.Fatalf("DestinationRule via %v: %v", PolicyResources[1], err)
	}

	cluster, err := NewKubeCluster(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{Cluster: cluster, Dir: t.TempDir(), Limits: Limits{Timeout: time.Minute}}
	dir, err := c.Collect(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	policies := read("policies.yaml")
	for _, want := range []string{"kind: PeerAuthentication", "mode: STRICT", "kind: DestinationRule", "mode: ISTIO_MUTUAL", "namespace: legacy"} {
		if !strings.Contains(policies, want) {
			t.Errorf("policies.yaml lacks %q:\n%s", want, policies)
		}
	}
	if strings.Contains(policies, "managedFields") {
		t.Error("policies.yaml keeps managedFields")
	}
	if got := read("events-foo.txt"); got != "2026-11-05T10:15:00Z  Warning  FailedScheduling      Pod/httpbin-1: 0/1 nodes are available\n" {
		t.Errorf("events-foo.txt = %q", got)
	}
	if got := read("pods.txt"); !strings.HasPrefix(got, "server foo/httpbin-1 phase=Pending node= ") || !strings.Contains(got, "injected=true") {
		t.Errorf("pods.txt = %q", got)
	}
	for _, log := range []string{"server-httpbin-1-istio-proxy.log", "server-httpbin-1-httpbin.log"} {
		if got := read(log); got != EmptyLog {
			t.Errorf("%s = %q, want %q (the API server serves an empty log for a pod with no node)", log, got, EmptyLog)
		}
	}
	errs := read("collection-errors.txt")
	for _, want := range []string{
		"client pods (sleep.legacy): no pod in legacy matches map[app:sleep]",
		"server-httpbin-1-config_dump.json: exec in foo/httpbin-1 container \"istio-proxy\": unable to upgrade connection: pod httpbin-1 does not have a host assigned\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("collection-errors.txt lacks %q:\n%s", want, errs)
		}
	}
}
