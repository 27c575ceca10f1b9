package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// sourceCharts is istio/istio's manifests/charts at the pinned source module (versions.yaml
// istio.sourceModule), fetched with the Go module proxy: the real base and istiod charts.
func sourceCharts(t *testing.T) string {
	t.Helper()
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("go", "mod", "download", "-json", "istio.io/istio@"+pins.Istio.SourceModule)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go mod download istio.io/istio@%s: %v: %s %s", pins.Istio.SourceModule, err, stderr.String(), stdout.String())
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &mod); err != nil || mod.Error != "" || mod.Dir == "" {
		t.Fatalf("go mod download istio.io/istio: %v %s", err, mod.Error)
	}
	return filepath.Join(mod.Dir, "manifests", "charts")
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func discoveryImage(t *testing.T, kube kubernetes.Interface, name string) string {
	t.Helper()
	dep, err := kube.AppsV1().Deployments("istio-system").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("istiod Deployment %s: %v", name, err)
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == "discovery" {
			return c.Image
		}
	}
	return ""
}

// TestCanaryControlPlaneOnRealAPIServer runs the canary's Helm steps with Istio's real charts
// against a real kube-apiserver: istio-base upgraded, TO's istiod installed as a revision beside
// the old one, the namespaces moved, the old istiod deleted with istio-base and the namespace
// kept, and the canary made the default revision. No istiod runs here, so readiness is replaced
// by a check that the control plane's Deployment exists.
func TestCanaryControlPlaneOnRealAPIServer(t *testing.T) {
	env := envtestenv.Start(t)
	kube := env.Kube(t)
	deploytest.NamespaceFinalizer(t, kube)
	charts := sourceCharts(t)
	ctx := context.Background()
	out := logWriter{t}

	// FROM, installed as world.Setup does (the CRDs were applied without Helm: adopt them).
	// istio/istio's source charts are version 1.0.0 and need the image tag said.
	// The run's trust domain is set as world does (meshConfig.trustDomain).
	old, err := istio.New(env.Kubeconfig, "", istio.Options{Version: "1.30.5", Tag: "1.30.5", ChartsDir: charts, TakeOwnership: true, HelmTimeout: time.Minute, Out: out,
		Values: map[string]any{"meshConfig": map[string]any{"trustDomain": "example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	if _, err := old.InstallBase(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := old.InstallIstiod(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"foo", "bar"} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{mesh.ManagedByLabel: mesh.ManagedByValue, mesh.InjectionLabel: "enabled"}}}
		if _, err := kube.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	opts := Options{From: "1.30.5", To: "1.31.1", Mode: Canary, ProbeInterval: time.Second}
	cp, err := NewControlPlane(old, opts, ControlPlaneConfig{
		Kubeconfig: env.Kubeconfig, Rest: env.Config, Out: out,
		Target: istio.Options{ChartsDir: charts, Tag: "1.31.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var waited []string
	cp.WaitReady = func(ctx context.Context, in *istio.Installer) error {
		waited = append(waited, in.Revision())
		_, err := kube.AppsV1().Deployments(in.Namespace()).Get(ctx, in.IstiodDeployment(), metav1.GetOptions{})
		return err
	}
	if err := cp.UpgradeInPlace(ctx); err == nil || err.Error() != "upgrade mode is canary, not inplace" {
		t.Errorf("UpgradeInPlace in canary mode: %v", err)
	}
	if err := cp.MoveNamespaces(ctx, []string{"foo"}); err == nil {
		t.Error("namespaces moved before the canary exists")
	}

	if err := cp.InstallCanary(ctx); err != nil {
		t.Fatal(err)
	}
	base, err := old.Release(istio.BaseRelease)
	if err != nil {
		t.Fatal(err)
	}
	if base.Version != 2 || base.Info.Status != "deployed" || base.Config["defaultRevision"] != nil {
		t.Errorf("istio-base after the canary install: revision %d %s, values %v", base.Version, base.Info.Status, base.Config)
	}
	// Both control planes, each on its own version.
	if got := discoveryImage(t, kube, "istiod"); got != "registry.istio.io/testing/pilot:1.30.5" {
		t.Errorf("old istiod image %q", got)
	}
	if got := discoveryImage(t, kube, "istiod-1-31-1"); got != "registry.istio.io/testing/pilot:1.31.1" {
		t.Errorf("canary istiod image %q", got)
	}
	// Both control planes serve the run's trust domain: the mesh ConfigMap istiod reads,
	// istio or istio-<revision> (istio-discovery templates/configmap.yaml).
	for _, name := range []string{"istio", "istio-1-31-1"} {
		cm, err := kube.CoreV1().ConfigMaps("istio-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var mesh struct {
			TrustDomain string `json:"trustDomain"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data["mesh"]), &mesh); err != nil || mesh.TrustDomain != "example.org" {
			t.Errorf("ConfigMap %s: mesh trustDomain %q (%v), want the run's example.org", name, mesh.TrustDomain, err)
		}
	}
	if !slices.Equal(cp.Revisions(), []string{"default", "1-31-1"}) || cp.Versions() != "1.30.5+1.31.1" || !slices.Equal(waited, []string{"1-31-1"}) {
		t.Errorf("after the canary install: revisions %v, versions %s, waited for %v", cp.Revisions(), cp.Versions(), waited)
	}

	if err := cp.MoveNamespaces(ctx, []string{"foo", "bar"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"foo", "bar"} {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, has := ns.Labels[mesh.InjectionLabel]; has || ns.Labels[mesh.RevisionLabel] != "1-31-1" {
			t.Errorf("%s labels after the move: %v", name, ns.Labels)
		}
	}
	// The canary's injector selects the moved namespaces (istio-discovery mutatingwebhook.yaml:
	// rev.namespace.sidecar-injector.istio.io matches istio.io/rev=<revision>).
	mwc, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-1-31-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	selects := false
	for _, wh := range mwc.Webhooks {
		if wh.Name != "rev.namespace.sidecar-injector.istio.io" || wh.NamespaceSelector == nil {
			continue
		}
		for _, e := range wh.NamespaceSelector.MatchExpressions {
			if e.Key == mesh.RevisionLabel && slices.Contains(e.Values, "1-31-1") {
				selects = true
			}
		}
	}
	if !selects {
		t.Errorf("the canary injector does not select istio.io/rev=1-31-1: %+v", mwc.Webhooks)
	}

	if err := cp.RemoveOld(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("old istiod Deployment after removal: %v", err)
	}
	if _, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("old injector after removal: %v", err)
	}
	if _, err := old.Release("istiod"); err == nil {
		t.Error("the istiod release is still recorded")
	}
	if got := discoveryImage(t, kube, "istiod-1-31-1"); got != "registry.istio.io/testing/pilot:1.31.1" {
		t.Errorf("canary istiod after the removal: %q", got)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{}); err != nil {
		t.Errorf("istio-system after removing the old control plane: %v", err)
	}
	base, err = old.Release(istio.BaseRelease)
	if err != nil {
		t.Fatal(err)
	}
	if base.Version != 3 || base.Config["defaultRevision"] != "1-31-1" {
		t.Errorf("istio-base after the removal: revision %d, values %v", base.Version, base.Config)
	}
	// The default validator now calls the canary (base templates/defaultrevision-validatingwebhookconfiguration.yaml:
	// service istiod-<defaultRevision>).
	vwc, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "istiod-default-validator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vwc.Webhooks) == 0 || vwc.Webhooks[0].ClientConfig.Service == nil || vwc.Webhooks[0].ClientConfig.Service.Name != "istiod-1-31-1" {
		t.Errorf("istiod-default-validator after the removal: %+v", vwc.Webhooks)
	}
	if !slices.Equal(cp.Revisions(), []string{"1-31-1"}) || cp.Versions() != "1.31.1" || !slices.Equal(waited, []string{"1-31-1", "1-31-1"}) {
		t.Errorf("after the removal: revisions %v, versions %s, waited for %v", cp.Revisions(), cp.Versions(), waited)
	}

	// On a cluster the run did not create, Close removes the canary; the world's teardown then
	// removes istio-base and the namespace, as old.Uninstall does here.
	if err := cp.Close(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod-1-31-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("canary istiod after Close: %v", err)
	}
	if err := old.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("istio-system after teardown: %v", err)
	}
}
