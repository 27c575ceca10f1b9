package istio

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestWaitAmbientReady: on the real apiserver, the DaemonSets the cni and ztunnel charts render
// are the ones WaitAmbientReady reads; it fails, naming both and why, while no node runs them
// (there is no kubelet or DaemonSet controller here), and passes once their status says every
// scheduled pod is updated and available, as the DaemonSet controller would write it.
func TestWaitAmbientReady(t *testing.T) {
	in, kube, _ := installer(t, Options{Tag: "1.31.1", ReadyTimeout: 2 * time.Second})
	ctx := context.Background()
	if _, err := in.InstallBase(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.InstallAmbient(ctx); err != nil {
		t.Fatal(err)
	}
	err := in.WaitAmbientReady(ctx)
	if err == nil {
		t.Fatal("ready without any node running ztunnel or istio-cni")
	}
	for _, want := range []string{": the ambient data plane in istio-system is not ready: after 2s: ", "DaemonSet istio-cni-node: generation 1 not yet observed", "DaemonSet ztunnel: generation 1 not yet observed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	markReady(t, kube, CNIDaemonSet)
	if err := in.WaitAmbientReady(ctx); err == nil || strings.Contains(err.Error(), "istio-cni-node") || !strings.Contains(err.Error(), "DaemonSet ztunnel") {
		t.Errorf("with istio-cni ready, ztunnel not: %v", err)
	}
	markReady(t, kube, ZtunnelDaemonSet)
	if err := in.WaitAmbientReady(ctx); err != nil {
		t.Fatalf("both ready: %v", err)
	}
	if err := in.UninstallAmbient(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
}

// markReady writes the status the DaemonSet controller writes once its pods run on two nodes.
func markReady(t *testing.T, kube kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	ds, err := kube.AppsV1().DaemonSets("istio-system").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Labels[NameLabel] == "" {
		t.Errorf("DaemonSet %s has no %s label: %v", name, NameLabel, ds.Labels)
	}
	ds.Status.ObservedGeneration = ds.Generation
	ds.Status.DesiredNumberScheduled, ds.Status.CurrentNumberScheduled, ds.Status.UpdatedNumberScheduled = 2, 2, 2
	ds.Status.NumberReady, ds.Status.NumberAvailable = 2, 2
	if _, err := kube.AppsV1().DaemonSets("istio-system").UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
