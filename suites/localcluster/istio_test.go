//go:build localcluster

package localcluster

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apinetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

func TestIstiodAvailable(t *testing.T) {
	dep, err := kube.AppsV1().Deployments("istio-system").Get(ctxFor(t, time.Minute), "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	available := false
	for _, c := range dep.Status.Conditions {
		available = available || (c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue)
	}
	if !available || dep.Status.AvailableReplicas < 1 {
		t.Errorf("istiod not Available: %+v", dep.Status)
	}
	if want := cfg.IstioHub + "/pilot:" + cfg.IstioTag; dep.Spec.Template.Spec.Containers[0].Image != want {
		t.Errorf("istiod runs %s, want the local %s", dep.Spec.Template.Spec.Containers[0].Image, want)
	}
	if w.Env.IstioVersion != cfg.IstioVersion {
		t.Errorf("report says Istio %q, want %q", w.Env.IstioVersion, cfg.IstioVersion)
	}
}

// A fixture pod created (server-side dry run) in a namespace labelled istio-injection=enabled
// comes back from istiod's injection webhook with the native istio-proxy sidecar from the local
// hub/tag, and the project's sidecar detection agrees.
func TestInjectionWebhook(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t, timeouts.Webhook)
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName("mtls-injection-check")
	ns.SetLabels(map[string]string{fixtures.InjectionLabel: "enabled"})
	g.Expect(w.Deployer.Apply(ctx, ns)).To(Succeed()) // labelled: teardown removes it
	pod := fixturePod(t, "sleep")
	// The check namespace has no ServiceAccount sleep (the admission plugin would refuse the pod);
	// the sleep fixture's own namespace is legacy, checked below with its ServiceAccount.
	inCheckNS := pod.DeepCopy()
	inCheckNS.Spec.ServiceAccountName = ""
	var got *corev1.Pod
	g.Eventually(func() error {
		var err error
		got, err = kube.CoreV1().Pods(ns.GetName()).Create(ctx, inCheckNS.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}).WithContext(ctx).WithPolling(time.Second).Should(Succeed())
	g.Expect(mesh.HasSidecar(got)).To(BeTrue(), "the project's sidecar detection on %v", containerNames(got))
	want := cfg.IstioHub + "/proxyv2:" + cfg.IstioTag
	found := false
	for _, c := range got.Spec.InitContainers {
		if c.Name == mesh.SidecarContainer {
			found = true
			g.Expect(c.Image).To(Equal(want))
			// Native sidecar on Kubernetes >= 1.33 (pilot/pkg/kube/inject/webhook.go, ENABLE_NATIVE_SIDECARS).
			g.Expect(c.RestartPolicy).NotTo(BeNil())
			g.Expect(*c.RestartPolicy).To(Equal(corev1.ContainerRestartPolicyAlways))
		}
	}
	g.Expect(found).To(BeTrue(), "no istio-proxy init container in %v", containerNames(got))
	// And a namespace without the label gets no sidecar: the fixtures here are all un-injected.
	plain, err := kube.CoreV1().Pods("legacy").Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(mesh.HasSidecar(plain)).To(BeFalse())
}

// istiod's validating webhook is in force (fail-close) and denies an object the CRD schema lets
// through: a VirtualService whose uri regex does not compile (pilot/pkg/config/validation).
func TestValidationWebhookDenies(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t, timeouts.Webhook)
	ic := istioclient.NewForConfigOrDie(w.Config)
	vs := &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "invalid-regex", Namespace: "legacy"},
		Spec: apinetworking.VirtualService{
			Hosts: []string{"httpbin.legacy.svc.cluster.local"},
			Http: []*apinetworking.HTTPRoute{{
				Match: []*apinetworking.HTTPMatchRequest{{Uri: &apinetworking.StringMatch{MatchType: &apinetworking.StringMatch_Regex{Regex: "a["}}}},
				Route: []*apinetworking.HTTPRouteDestination{{Destination: &apinetworking.Destination{Host: "httpbin.legacy.svc.cluster.local"}}},
			}},
		},
	}
	// istiod switches its webhook to fail-close once it has rejected an invalid object itself
	// ("Endpoint successfully rejected invalid config. Switching to fail-close."): until then a
	// dry run may be accepted.
	g.Eventually(func() error {
		_, err := ic.NetworkingV1().VirtualServices("legacy").Create(ctx, vs, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}).WithContext(ctx).WithPolling(time.Second).Should(MatchError(ContainSubstring(`admission webhook "validation.istio.io" denied the request`)))
	// A valid object passes the same webhook.
	vs.Spec.Http[0].Match[0].Uri = &apinetworking.StringMatch{MatchType: &apinetworking.StringMatch_Prefix{Prefix: "/"}}
	_, err := ic.NetworkingV1().VirtualServices("legacy").Create(ctx, vs, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	g.Expect(err).NotTo(HaveOccurred())
}

// fixturePod is the pod a fixture Deployment creates (its template), without namespace.
func fixturePod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	objs, err := fixtures.ObjectsFor(mustVariant(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != name {
			continue
		}
		var dep appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &dep); err != nil {
			t.Fatal(err)
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Labels: dep.Spec.Template.Labels}, Spec: dep.Spec.Template.Spec}
	}
	t.Fatalf("no fixture Deployment %s", name)
	return nil
}

func mustVariant(t *testing.T) fixtures.Variant {
	v, err := cfg.FixtureVariant()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func containerNames(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Spec.InitContainers {
		out = append(out, "init:"+c.Name)
	}
	for _, c := range p.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}
