package istio

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	release "helm.sh/helm/v4/pkg/release/v1"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/closedport"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
)

// installer starts a fresh real apiserver (Istio's CRDs already installed from istio.io/api, as
// on a cluster where someone applied them) and an Installer using istio/istio's own charts.
func installer(t *testing.T, opts Options) (*Installer, kubernetes.Interface, *envtestenv.Env) {
	t.Helper()
	env := envtestenv.Start(t)
	kube := env.Kube(t)
	deploytest.NamespaceFinalizer(t, kube)
	opts.ChartsDir = sourceCharts(t)
	// The CRDs were applied without Helm; adopting them is what a user asks for here.
	opts.TakeOwnership = true
	opts.HelmTimeout = time.Minute
	opts.Out = &testWriter{t}
	in, err := New(env.Kubeconfig, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	in.pollEvery = 200 * time.Millisecond
	t.Cleanup(func() { in.Close() })
	return in, kube, env
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestBaseChartInstallUninstall installs Istio's real base chart into a real apiserver with the
// Helm SDK and removes it again.
func TestBaseChartInstallUninstall(t *testing.T) {
	in, kube, env := installer(t, Options{Tag: "1.31.1"})
	ctx := context.Background()
	rel, err := in.InstallBase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Name != "istio-base" || rel.Namespace != "istio-system" || rel.Version != 1 || rel.Info.Status != "deployed" {
		t.Errorf("release %s/%s v%d %s", rel.Namespace, rel.Name, rel.Version, rel.Info.Status)
	}
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{})
	if err != nil || ns.Annotations[CreatedByAnnotation] != "istio-installer" || ns.Labels[mesh.ManagedByLabel] != "" {
		t.Fatalf("istio-system: labels %v annotations %v %v", ns.Labels, ns.Annotations, err)
	}
	// What the base chart renders (manifests/charts/base/templates): the reader ServiceAccount
	// and the default-revision validator, failing open until istiod patches it.
	sa, err := kube.CoreV1().ServiceAccounts("istio-system").Get(ctx, "istio-reader-service-account", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sa.Annotations["meta.helm.sh/release-name"] != "istio-base" {
		t.Errorf("reader ServiceAccount annotations %v", sa.Annotations)
	}
	vwc, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "istiod-default-validator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vwc.Webhooks) != 1 || vwc.Webhooks[0].ClientConfig.Service == nil || vwc.Webhooks[0].ClientConfig.Service.Name != "istiod" ||
		vwc.Webhooks[0].FailurePolicy == nil || *vwc.Webhooks[0].FailurePolicy != "Ignore" {
		t.Errorf("istiod-default-validator = %+v", vwc.Webhooks)
	}
	ext, err := apiextensionsclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "peerauthentications.security.istio.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if crd.Annotations["meta.helm.sh/release-name"] != "istio-base" || crd.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("CRD not adopted by the release: %v", crd.Annotations)
	}

	if err := in.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Release(BaseRelease); err == nil {
		t.Error("istio-base release still recorded after uninstall")
	}
	if _, err := kube.CoreV1().ServiceAccounts("istio-system").Get(ctx, "istio-reader-service-account", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("reader ServiceAccount after uninstall: %v", err)
	}
	if _, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "istiod-default-validator", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("validator after uninstall: %v", err)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("istio-system (created by the installer) after uninstall: %v", err)
	}
	// The chart marks its CRDs helm.sh/resource-policy: keep; Istio's docs remove them by hand.
	for _, c := range env.IstioCRDs {
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, c.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s after uninstall: %v", c.Name, err)
		}
	}
}

// injector is a stand-in for istiod's sidecar injector on 127.0.0.1: a real AdmissionReview
// webhook over TLS that adds an istio-proxy container running image(), so the apiserver's own
// webhook call path is exercised end to end.
func injector(t *testing.T, image func() string) (url string, caPEM []byte) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		proxy, _ := json.Marshal(corev1.Container{Name: "istio-proxy", Image: image()})
		patch := `[{"op":"add","path":"/spec/containers/-","value":` + string(proxy) + `}]`
		pt := admissionv1.PatchTypeJSONPatch
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true, Patch: []byte(patch), PatchType: &pt}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(&review)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/inject", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// TestIstiodValuesAndReadiness installs the istiod chart as a canary revision with hub and tag
// overrides, checks them in the rendered objects, and drives WaitReady through its states:
// Deployment not yet Available, Available but the webhook not answering, and ready.
func TestIstiodValuesAndReadiness(t *testing.T) {
	in, kube, env := installer(t, Options{Revision: "canary", Hub: "localhost:5000/istio", Tag: "1.31.1", ReadyTimeout: 3 * time.Second})
	ctx := context.Background()
	rel := installBaseAndIstiod(ctx, t, in)
	if rel.Name != "istiod-canary" || rel.Config["revision"] != "canary" {
		t.Errorf("release %s config %v", rel.Name, rel.Config)
	}
	dep, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod-canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var image string
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == "discovery" {
			image = c.Image
		}
	}
	// "{hub}/pilot:{tag}" (istio-discovery templates/deployment.yaml).
	if image != "localhost:5000/istio/pilot:1.31.1" {
		t.Errorf("discovery image %q", image)
	}
	if dep.Labels["istio.io/rev"] != "canary" || dep.Spec.Template.Labels["istio.io/rev"] != "canary" || dep.Spec.Selector.MatchLabels["istio.io/rev"] != "canary" {
		t.Errorf("revision labels: deployment %v template %v selector %v", dep.Labels, dep.Spec.Template.Labels, dep.Spec.Selector.MatchLabels)
	}
	mwc, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, wh := range mwc.Webhooks {
		names = append(names, wh.Name)
		if wh.ClientConfig.Service == nil || wh.ClientConfig.Service.Name != "istiod-canary" {
			t.Errorf("webhook %s calls %+v", wh.Name, wh.ClientConfig)
		}
	}
	// A revisioned control plane gets only the revision webhooks (mutatingwebhook.yaml).
	if strings.Join(names, ",") != "rev.namespace.sidecar-injector.istio.io,rev.object.sidecar-injector.istio.io" {
		t.Errorf("webhooks %v", names)
	}

	// 1. Nothing runs istiod here: no Available condition.
	err = in.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "istio "+defaultIstio(t)+": istiod istio-system/istiod-canary not ready: after 3s: istiod Deployment generation 1 not yet observed") {
		t.Errorf("before status: %v", err)
	}
	// 2. The Deployment controller reports it Available, but nothing answers the webhook. (The
	// chart's webhooks name the istiod-canary Service, which a bare apiserver cannot route to;
	// a closed port on 127.0.0.1 keeps the failing call on this machine.)
	if err := deploytest.CompleteRollout(ctx, kube, "istio-system", "istiod-canary"); err != nil {
		t.Fatal(err)
	}
	url, ca := injector(t, func() string { return "localhost:5000/istio/proxyv2:1.31.1" })
	closed := "https://" + closedport.Addr(t) + "/inject"
	setWebhooks := func(url string) {
		t.Helper()
		pointWebhooks(t, kube, "istio-sidecar-injector-canary", url, ca)
	}
	setWebhooks(closed)
	err = in.WaitReady(ctx)
	want := "istio " + defaultIstio(t) + `: istiod istio-system/istiod-canary not ready: after 3s: injection webhook did not answer: Internal error occurred: failed calling webhook "rev.object.sidecar-injector.istio.io": failed to call webhook: Post "` + closed + `?timeout=10s": dial tcp `
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Available, webhook not answering: %v", err)
	}
	// 3. A live injector: the dry-run pod comes back with istio-proxy.
	setWebhooks(url)
	if err := in.WaitReady(ctx); err != nil {
		t.Errorf("with a live injector: %v", err)
	}
	// Existing-cluster detection reads the same objects: the chart's labels and image.
	found, err := cluster.DetectIstio(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := found.Summary(), "istiod istio-system/istiod-canary revision canary Istio 1.31.1, available"; got != want || !found.Installed() {
		t.Errorf("DetectIstio: %q (installed %v), want %q", got, found.Installed(), want)
	}
	// The readiness check stored nothing.
	pods, err := kube.CoreV1().Pods("istio-system").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("pods left in istio-system: %d %v", len(pods.Items), err)
	}
}

// pointWebhooks sends every webhook of the MutatingWebhookConfiguration name to url (the test's
// injector), as istiod's Service would be reached.
func pointWebhooks(t *testing.T, kube kubernetes.Interface, name, url string, ca []byte) {
	t.Helper()
	mwc, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ClientConfig = admissionClientConfig(url, ca)
	}
	if _, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(t.Context(), mwc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func admissionClientConfig(url string, ca []byte) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca}
}

// TestUpgradeAndUninstall: an in-place helm upgrade changes istiod's image to the new version;
// uninstall removes istiod, base and the namespace the installer created.
func TestUpgradeAndUninstall(t *testing.T) {
	in, kube, _ := installer(t, Options{Version: "1.31.0", Tag: "1.31.0", ReadyTimeout: 10 * time.Second})
	ctx := context.Background()
	installBaseAndIstiod(ctx, t, in)
	// The injector answers with the proxy image of the istiod version that runs.
	var proxyImage atomic.Value
	proxyImage.Store("registry.istio.io/testing/proxyv2:1.31.0")
	url, ca := injector(t, func() string { return proxyImage.Load().(string) })
	chartConfigs := map[string]admissionregistrationv1.WebhookClientConfig{}
	// point sets every injector webhook's client config: to the live injector, or back to what
	// the chart rendered (so helm upgrade's server-side apply meets the fields it owns).
	point := func(live bool) {
		t.Helper()
		mwc, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, wh := range mwc.Webhooks {
			if live {
				chartConfigs[wh.Name] = wh.ClientConfig
				mwc.Webhooks[i].ClientConfig = admissionClientConfig(url, ca)
			} else {
				mwc.Webhooks[i].ClientConfig = chartConfigs[wh.Name]
			}
		}
		if _, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	live := func() {
		t.Helper()
		point(true)
		if err := deploytest.CompleteRollout(ctx, kube, "istio-system", "istiod"); err != nil {
			t.Fatal(err)
		}
	}
	live()
	if err := in.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	point(false)
	// The upgrade waits for readiness; stand in for the Deployment controller while it does.
	errc := make(chan error, 1)
	go func() { errc <- in.Upgrade(ctx, "1.31.1", "1.31.1") }()
	// Helm has applied everything once it records revision 2 as deployed; only then does the
	// Installer's own readiness wait begin.
	deadline := time.Now().Add(time.Minute)
	for {
		if rel, err := in.Release("istiod"); err == nil && rel.Version == 2 && rel.Info.Status == "deployed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("helm upgrade of istiod never recorded revision 2")
		}
		select {
		case err := <-errc:
			t.Fatalf("Upgrade returned before the rollout: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	dep, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No hub was given: the source chart's default hub stays, the tag moves.
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != "registry.istio.io/testing/pilot:1.31.1" {
		t.Errorf("istiod image after upgrade %q", got)
	}
	// istiod would now run the new version; point the webhooks at the injector again.
	proxyImage.Store("registry.istio.io/testing/proxyv2:1.31.1")
	live()
	if err := <-errc; err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if in.Version() != "1.31.1" {
		t.Errorf("installer reports %s after the upgrade", in.Version())
	}
	rel, err := in.Release("istiod")
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 2 {
		t.Errorf("istiod release revision %d after one upgrade, want 2", rel.Version)
	}

	if err := in.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	for _, check := range []struct {
		what string
		err  error
	}{
		{"istiod Deployment", getErr(kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{}))},
		{"injector webhook", getErr(kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector", metav1.GetOptions{}))},
		{"istio-system", getErr(kube.CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{}))},
	} {
		if !apierrors.IsNotFound(check.err) {
			t.Errorf("%s after uninstall: %v", check.what, check.err)
		}
	}
}

func getErr[T any](_ T, err error) error { return err }

// A namespace that existed before the install is not deleted by Uninstall.
func TestUninstallKeepsForeignNamespace(t *testing.T) {
	in, kube, _ := installer(t, Options{Tag: "1.31.1"})
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.InstallBase(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{})
	if err != nil || ns.DeletionTimestamp != nil {
		t.Errorf("pre-existing istio-system after uninstall: %v %v", ns, err)
	}
}

// installBaseAndIstiod installs base, then istiod without waiting, and returns istiod's release.
func installBaseAndIstiod(ctx context.Context, t *testing.T, in *Installer) *release.Release {
	t.Helper()
	if _, err := in.InstallBase(ctx); err != nil {
		t.Fatal(err)
	}
	rel, err := in.InstallIstiod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// rolloutAt stands in for the Deployment controller at one point of a rollout of istiod's
// current generation: replicas pods in all, updated of them from the new template, available of
// them available, and the Available condition True (the controller sets it once
// availableReplicas >= replicas - maxUnavailable, which one old pod satisfies).
func rolloutAt(ctx context.Context, t *testing.T, kube kubernetes.Interface, name string, replicas, updated, available int32) {
	t.Helper()
	dep, err := kube.AppsV1().Deployments("istio-system").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deploytest.SetRolloutStatus(dep, replicas, updated, available, "ReplicaSetUpdated")
	if _, err := kube.AppsV1().Deployments("istio-system").UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestWaitReadyWaitsForTheRollout: istiod's chart rolls out with maxSurge 100 % (istio-discovery
// values.yaml rollingMaxSurge), so with one replica the Deployment stays Available=True on the
// old pod while the new one starts. WaitReady must wait as `kubectl rollout status` does
// (k8s.io/kubectl pkg/polymorphichelpers/rollout_status.go, DeploymentStatusViewer), and then
// until the injector answering is the new istiod: the injected istio-proxy must run
// <hub>/proxyv2:<tag> of the control plane just installed.
func TestWaitReadyWaitsForTheRollout(t *testing.T) {
	in, kube, _ := installer(t, Options{Version: "1.31.0", Tag: "1.31.0", ReadyTimeout: 2 * time.Second})
	ctx := context.Background()
	installBaseAndIstiod(ctx, t, in)
	dep, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge == nil || ru.MaxSurge.String() != "100%" || dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Fatalf("istiod rolls out with %+v, %v replicas; the test assumes the chart's maxSurge 100%% and 1 replica", dep.Spec.Strategy.RollingUpdate, dep.Spec.Replicas)
	}
	var proxyImage atomic.Value
	proxyImage.Store("registry.istio.io/testing/proxyv2:1.31.0")
	url, ca := injector(t, func() string { return proxyImage.Load().(string) })
	pointWebhooks(t, kube, "istio-sidecar-injector", url, ca)

	// Each point of the rollout is Available=True, and the injector already answers as wanted:
	// only the replica counts say the rollout has not finished.
	for _, tc := range []struct {
		what                         string
		replicas, updated, available int32
		want                         string
	}{
		{"new ReplicaSet not scaled up yet", 1, 0, 1, "istiod Deployment rollout: 0 out of 1 new replicas have been updated"},
		{"new pod starting beside the old one", 2, 1, 1, "istiod Deployment rollout: 1 old replicas are pending termination"},
		{"new pod ready, old pod not removed yet", 2, 1, 2, "istiod Deployment rollout: 1 old replicas are pending termination"},
	} {
		rolloutAt(ctx, t, kube, "istiod", tc.replicas, tc.updated, tc.available)
		err := in.WaitReady(ctx)
		if err == nil || !strings.HasSuffix(err.Error(), "not ready: after 2s: "+tc.want) {
			t.Errorf("%s (Available=True, %d replicas, %d updated, %d available): WaitReady = %v, want it still waiting: %s", tc.what, tc.replicas, tc.updated, tc.available, err, tc.want)
		}
	}

	// Rolled out, but the injector that answers is still an old istiod, or one of another hub.
	if err := deploytest.CompleteRollout(ctx, kube, "istio-system", "istiod"); err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []string{"registry.istio.io/testing/proxyv2:1.30.5", "docker.io/istio/proxyv2:1.31.0"} {
		proxyImage.Store(wrong)
		err := in.WaitReady(ctx)
		want := "not ready: after 2s: injection webhook injected istio-proxy image " + wrong + ", not registry.istio.io/testing/proxyv2:1.31.0 (the image of the control plane just installed)"
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("injector answering with %s: WaitReady = %v, want ...%s", wrong, err, want)
		}
	}
	proxyImage.Store("registry.istio.io/testing/proxyv2:1.31.0")
	if err := in.WaitReady(ctx); err != nil {
		t.Errorf("rolled out, new injector: %v", err)
	}
}

// renderedRequests reads what Istio's real chart rendered for revision rev: istiod's container
// requests (istio-discovery templates/deployment.yaml, .Values.resources) and the proxy
// resources the injector is configured with (the istio-sidecar-injector ConfigMap's values,
// global.proxy.resources, which files/injection-template.yaml puts on every istio-proxy).
func renderedRequests(ctx context.Context, t *testing.T, kube kubernetes.Interface, rev string) (istiod corev1.ResourceRequirements, proxy map[string]map[string]string) {
	t.Helper()
	suffix := ""
	if rev != "" {
		suffix = "-" + rev
	}
	dep, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod"+suffix, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == "discovery" {
			istiod = c.Resources
		}
	}
	cm, err := kube.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio-sidecar-injector"+suffix, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Global struct {
			Proxy struct {
				Resources map[string]map[string]string `json:"resources"`
			} `json:"proxy"`
		} `json:"global"`
	}
	if err := json.Unmarshal([]byte(cm.Data["values"]), &values); err != nil {
		t.Fatal(err)
	}
	return istiod, values.Global.Proxy.Resources
}

// TestResourceRequests: by default istiod and every sidecar request what Istio's demo profile
// sets (istio-discovery files/profile-demo.yaml: pilot 10m/100Mi, global.proxy 10m/40Mi), so
// that a surge or canary istiod fits a 2-vCPU machine; the proxies keep the chart's limits.
// --istio-requests raises them (here: a second control plane as a revision).
func TestResourceRequests(t *testing.T) {
	in, kube, env := installer(t, Options{Tag: "1.31.1"})
	ctx := context.Background()
	installBaseAndIstiod(ctx, t, in)
	istiod, proxy := renderedRequests(ctx, t, kube, "")
	if got := istiod.Requests; got.Cpu().String() != "10m" || got.Memory().String() != "100Mi" || len(istiod.Limits) != 0 {
		t.Errorf("istiod resources %v, want requests cpu 10m memory 100Mi and no limits", istiod)
	}
	want := map[string]map[string]string{"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"cpu": "2000m", "memory": "1024Mi"}}
	if !reflect.DeepEqual(proxy, want) {
		t.Errorf("injected proxy resources %v, want %v", proxy, want)
	}

	var raised settings.Requests
	if err := raised.Set("istiod=500m/2Gi,proxy=100m/128Mi"); err != nil {
		t.Fatal(err)
	}
	big, err := New(env.Kubeconfig, "", Options{Revision: "big", Tag: "1.31.1", Requests: raised, ChartsDir: in.opts.ChartsDir, HelmTimeout: time.Minute, Out: &testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { big.Close() })
	if _, err := big.InstallIstiod(ctx); err != nil {
		t.Fatal(err)
	}
	istiod, proxy = renderedRequests(ctx, t, kube, "big")
	if got := istiod.Requests; got.Cpu().String() != "500m" || got.Memory().String() != "2Gi" {
		t.Errorf("raised istiod resources %v, want requests cpu 500m memory 2Gi", istiod)
	}
	want["requests"] = map[string]string{"cpu": "100m", "memory": "128Mi"}
	if !reflect.DeepEqual(proxy, want) {
		t.Errorf("raised proxy resources %v, want %v", proxy, want)
	}
}
