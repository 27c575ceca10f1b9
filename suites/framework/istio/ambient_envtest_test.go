package istio

import (
	"context"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
)

// TestAmbientChartsInstallUninstall installs Istio's real cni and ztunnel charts (istio/istio's
// source charts at the pin, ambient profile) into a real apiserver with the Helm SDK, after base,
// and removes them again, leaving nothing they made. Their pods never run here (no kubelet, and
// no ztunnel binary: see README).
//
// The ambient install also creates the Gateway API CRDs a waypoint needs (absent here), waits
// until they are Established, and its uninstall deletes them again.
func TestAmbientChartsInstallUninstall(t *testing.T) {
	in, kube, env := installer(t, Options{Tag: "1.31.1"})
	ctx := context.Background()
	ext := apiextensionsclient.NewForConfigOrDie(env.Config)
	if served := gatewayAPIServed(ctx, t, env.Config, false); served {
		t.Fatal("Gateway API served before the ambient install")
	}
	if _, err := in.InstallBase(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.InstallAmbient(ctx); err != nil {
		t.Fatal(err)
	}
	crds, err := gatewayapi.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range crds {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Annotations[CreatedByAnnotation] != "istio-installer" || !established(got) {
			t.Errorf("CRD %s: annotations %v conditions %v", got.Name, got.Annotations, got.Status.Conditions)
		}
	}
	if !gatewayAPIServed(ctx, t, env.Config, true) {
		t.Error("Gateway API not served after the ambient install")
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

	// A deleted CRD goes once the apiserver's finalizer has cleaned up its storage; on a loaded
	// 2-core CI machine that once took more than the minute the other waits here get (CI run of
	// 7fb02f9): give the uninstall, whose last wait that is, the chart default's room.
	in.opts.HelmTimeout = DefaultHelmTimeout
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
	for _, c := range crds {
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, c.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("CRD %s after uninstall: %v", c.Name, err)
		}
	}
	if gatewayAPIServed(ctx, t, env.Config, false) {
		t.Error("Gateway API still served after the ambient uninstall")
	}
	if err := in.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestGatewayAPIKeepsForeignCRDs: on a cluster where someone else installed the GatewayClass CRD,
// the installer creates only the Gateway CRD, and removes only that one.
func TestGatewayAPIKeepsForeignCRDs(t *testing.T) {
	in, _, env := installer(t, Options{Tag: "1.31.1"})
	ctx := context.Background()
	ext := apiextensionsclient.NewForConfigOrDie(env.Config)
	crds, err := gatewayapi.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	classes, gateways := crds[0], crds[1]
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, classes, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Half installed: gatewayclasses, but no gateways.
	if gatewayAPIServed(ctx, t, env.Config, false) {
		t.Fatal("gateways served with only the GatewayClass CRD")
	}
	if err := in.installGatewayAPI(ctx); err != nil {
		t.Fatal(err)
	}
	if !gatewayAPIServed(ctx, t, env.Config, true) {
		t.Fatal("gateways not served after installGatewayAPI")
	}
	got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, classes.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Annotations[CreatedByAnnotation]; ok {
		t.Errorf("foreign CRD %s annotated %v", got.Name, got.Annotations)
	}
	// Installing again changes nothing.
	if err := in.installGatewayAPI(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.uninstallGatewayAPI(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, classes.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("foreign CRD %s after uninstall: %v", classes.Name, err)
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, gateways.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("CRD %s after uninstall: %v", gateways.Name, err)
	}
	// Nothing of ours left: a second uninstall is no error.
	if err := in.uninstallGatewayAPI(ctx); err != nil {
		t.Fatal(err)
	}
}

func gatewayAPIServed(ctx context.Context, t *testing.T, cfg *rest.Config, want bool) bool {
	t.Helper()
	var served bool
	// Discovery can lag a moment behind a CRD's Established condition and its deletion: wait up
	// to 30s for want, then report what is served.
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		served, err = GatewayAPIInstalled(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return served == want, nil
	})
	return served
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}
