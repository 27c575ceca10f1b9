package istio

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAmbientChartsInstallUninstall installs Istio's real cni and ztunnel charts (istio/istio's
// source charts at the pin, ambient profile) into a real apiserver with the Helm SDK, after base,
// and removes them again, leaving nothing they made. Their pods never run here (no kubelet, and
// no ztunnel binary: see README).
func TestAmbientChartsInstallUninstall(t *testing.T) {
	in, kube, _ := installer(t, Options{Tag: "1.31.1"})
	ctx := context.Background()
	if _, err := in.InstallBase(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.InstallAmbient(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{CNIRelease, ZtunnelRelease} {
		rel, err := in.Release(r)
		if err != nil {
			t.Fatal(err)
		}
		if rel.Info.Status != "deployed" || rel.Namespace != "istio-system" {
			t.Errorf("release %s: %s in %s", r, rel.Info.Status, rel.Namespace)
		}
	}
	zt, err := kube.AppsV1().DaemonSets("istio-system").Get(ctx, "ztunnel", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := zt.Spec.Template.Spec.Containers[0].Image; img != "registry.istio.io/testing/ztunnel:1.31.1" && img != "registry.istio.io/testing/ztunnel:1.31.1-distroless" {
		t.Errorf("ztunnel image %s", img)
	}
	cni, err := kube.AppsV1().DaemonSets("istio-system").Get(ctx, "istio-cni-node", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The ambient profile turns on the node agent's ambient mode (files/profile-ambient.yaml
	// cni.ambient.enabled, rendered into the cni ConfigMap as AMBIENT_ENABLED).
	cm, err := kube.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio-cni-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["AMBIENT_ENABLED"] != "true" {
		t.Errorf("istio-cni-config AMBIENT_ENABLED = %q, want true (ambient profile)", cm.Data["AMBIENT_ENABLED"])
	}
	t.Logf("cni DaemonSet %s image %s", cni.Name, cni.Spec.Template.Spec.Containers[0].Image)

	if err := in.UninstallAmbient(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{CNIRelease, ZtunnelRelease} {
		if _, err := in.Release(r); err == nil {
			t.Errorf("release %s still recorded after uninstall", r)
		}
	}
	for _, name := range []string{"ztunnel", "istio-cni-node"} {
		if _, err := kube.AppsV1().DaemonSets("istio-system").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("DaemonSet %s after uninstall: %v", name, err)
		}
	}
	if _, err := kube.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio-cni-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("istio-cni-config after uninstall: %v", err)
	}
	if err := in.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
}
