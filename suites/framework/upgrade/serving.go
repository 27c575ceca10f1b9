package upgrade

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// Serving says which control plane must be the one serving after an upgrade step. CheckServing
// proves it from the cluster's own state, without a sidecar: which istiod pods run and answer,
// which of them the Service sends the webhooks' requests to, where the webhooks point, and what
// the injector answers.
type Serving struct {
	Namespace string
	// Revision is the control plane's revision label value ("default" for the unrevisioned one).
	Revision string
	// Deployment is istiod's Deployment and Service (istiod or istiod-<revision>;
	// istio-discovery templates/deployment.yaml, service.yaml).
	Deployment string
	// Image is the istiod image it must run, ProxyImage the sidecar image its injector adds.
	Image, ProxyImage string
	// Retired are istiod images that must no longer run anywhere in the namespace: the old
	// control plane after an in-place upgrade or after its removal.
	Retired []string
	// DefaultValidator: istio-base's istiod-default-validator (base
	// templates/defaultrevision-validatingwebhookconfiguration.yaml) must send validation to this
	// control plane.
	DefaultValidator bool
	// Namespaces are namespaces this revision must now inject (the ones moved to it).
	Namespaces []string
}

// WaitServing polls CheckServing every second until it passes (e2e-framework's wait.For), and
// returns its last error when timeout passes first: right after a step the old istiod's pod may
// still be terminating, and the Service's endpoints follow the pods' readiness.
func WaitServing(ctx context.Context, kube kubernetes.Interface, want Serving, timeout time.Duration) error {
	var last error
	err := wait.For(func(ctx context.Context) (bool, error) {
		last = CheckServing(ctx, kube, want)
		return last == nil, nil
	}, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(time.Second), wait.WithImmediate())
	if err != nil && last != nil {
		return fmt.Errorf("after %s: %w", timeout, last)
	}
	return err
}

// istiodHTTPPort serves istiod's /ready (pilot/pkg/bootstrap/server.go: httpMux "/ready";
// istio-discovery templates/deployment.yaml containerPort 8080, the readiness probe's).
const istiodHTTPPort = "8080"

// CheckServing returns nil when want's control plane serves, else every reason it does not:
//   - its Deployment runs want.Image and has rolled out (no old replica left);
//   - every current pod of it runs want.Image, is Ready and answers GET /ready with 200 through
//     the API server's pod proxy;
//   - no istiod pod in the namespace runs a retired image;
//   - the Service's ready endpoints are all pods running want.Image (the webhooks reach istiod
//     through it), at least one;
//   - every MutatingWebhookConfiguration of the revision (label istio.io/rev, istio-discovery
//     templates/mutatingwebhook.yaml) points at that Service, and so does
//     istiod-default-validator when want.DefaultValidator;
//   - a dry-run pod labelled istio.io/rev=<revision> in the Istio namespace, and one in each of
//     want.Namespaces, comes back injected by this revision (annotation istio.io/rev, the injector's
//     files/injection-template.yaml) with want.ProxyImage.
func CheckServing(ctx context.Context, kube kubernetes.Interface, want Serving) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	ns := want.Namespace

	dep, err := kube.AppsV1().Deployments(ns).Get(ctx, want.Deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("istiod Deployment %s/%s: %w", ns, want.Deployment, err)
	}
	if img := containerImage(dep.Spec.Template.Spec.Containers, "discovery"); img != want.Image {
		fail("Deployment %s runs %q, not %s", dep.Name, img, want.Image)
	}
	if reason, err := istio.RolloutPending(dep); reason != "" || err != nil {
		fail("Deployment %s has not rolled out: %s%v", dep.Name, reason, err)
	}

	selector, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return fmt.Errorf("Deployment %s selector: %w", dep.Name, err)
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return fmt.Errorf("istiod pods: %w", err)
	}
	current := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		current++
		if img := containerImage(p.Spec.Containers, "discovery"); img != want.Image {
			fail("pod %s runs %q, not %s", p.Name, img, want.Image)
			continue
		}
		if !mesh.PodReady(p) {
			fail("pod %s is not Ready", p.Name)
			continue
		}
		body, err := kube.CoreV1().Pods(ns).ProxyGet("http", p.Name, istiodHTTPPort, "/ready", nil).DoRaw(ctx)
		if err != nil {
			fail("pod %s does not answer GET :%s/ready: %v (%s)", p.Name, istiodHTTPPort, err, strings.TrimSpace(string(body)))
		}
	}
	if current == 0 {
		fail("Deployment %s has no pod", dep.Name)
	}

	// Any istiod pod of the namespace (app=istiod: istio-discovery templates/deployment.yaml).
	all, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return fmt.Errorf("istiod pods: %w", err)
	}
	images := map[string]string{}
	for i := range all.Items {
		p := &all.Items[i]
		img := containerImage(p.Spec.Containers, "discovery")
		images[p.Name] = img
		if slices.Contains(want.Retired, img) {
			state := "still runs"
			if p.DeletionTimestamp != nil {
				state = "is still terminating, running"
			}
			fail("pod %s of the old control plane %s %s", p.Name, state, img)
		}
	}

	endpointSlices, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{discoveryv1.LabelServiceName: want.Deployment}.String(),
	})
	if err != nil {
		return fmt.Errorf("Service %s endpoints: %w", want.Deployment, err)
	}
	ready := 0
	for _, s := range endpointSlices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			ready++
			switch {
			case e.TargetRef == nil || e.TargetRef.Kind != "Pod":
				fail("Service %s sends to %v, not to a pod", want.Deployment, e.Addresses)
			case images[e.TargetRef.Name] != want.Image:
				fail("Service %s sends to pod %s running %q, not %s", want.Deployment, e.TargetRef.Name, images[e.TargetRef.Name], want.Image)
			}
		}
	}
	if ready == 0 {
		fail("Service %s has no ready endpoint", want.Deployment)
	}

	mwcs, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{mesh.RevisionLabel: want.Revision}.String(),
	})
	if err != nil {
		return fmt.Errorf("injection webhooks: %w", err)
	}
	if len(mwcs.Items) == 0 {
		fail("no MutatingWebhookConfiguration labelled %s=%s", mesh.RevisionLabel, want.Revision)
	}
	for _, m := range mwcs.Items {
		for _, h := range m.Webhooks {
			if svc := h.ClientConfig.Service; svc == nil || svc.Namespace != ns || svc.Name != want.Deployment {
				fail("injection webhook %s/%s does not call Service %s/%s: %s", m.Name, h.Name, ns, want.Deployment, serviceRef(h.ClientConfig.Service))
			}
		}
	}
	if want.DefaultValidator {
		v, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, defaultValidator, metav1.GetOptions{})
		if err != nil {
			fail("%s: %v", defaultValidator, err)
		} else {
			for _, h := range v.Webhooks {
				if svc := h.ClientConfig.Service; svc == nil || svc.Namespace != ns || svc.Name != want.Deployment {
					fail("%s/%s does not call Service %s/%s: %s", v.Name, h.Name, ns, want.Deployment, serviceRef(h.ClientConfig.Service))
				}
			}
		}
	}

	if reason := injectedBy(ctx, kube, ns, map[string]string{mesh.RevisionLabel: want.Revision}, dep.Spec.Template.Spec.ServiceAccountName, want); reason != "" {
		fail("a pod labelled %s=%s in %s: %s", mesh.RevisionLabel, want.Revision, ns, reason)
	}
	for _, n := range want.Namespaces {
		if reason := injectedBy(ctx, kube, n, nil, "", want); reason != "" {
			fail("a pod in namespace %s: %s", n, reason)
		}
	}
	return errors.Join(errs...)
}

// defaultValidator is istio-base's webhook for Istio's resources when no revision is named.
const defaultValidator = "istiod-default-validator"

// injectedBy dry-run-creates a pod and returns "" when want's injector added its sidecar, else
// what came back. A dry run passes through the mutating webhooks (Istio's declare
// sideEffects: None) and stores nothing.
func injectedBy(ctx context.Context, kube kubernetes.Interface, namespace string, podLabels map[string]string, serviceAccount string, want Serving) string {
	l := map[string]string{mesh.ManagedByLabel: mesh.ManagedByValue}
	for k, v := range podLabels {
		l[k] = v
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "mtls-conformance-serving-check-", Labels: l},
		Spec: corev1.PodSpec{
			ServiceAccountName:           serviceAccount,
			AutomountServiceAccountToken: new(bool),
			Containers:                   []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	got, err := kube.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return "dry-run create failed: " + strings.Join(strings.Fields(err.Error()), " ")
	}
	image, rev := mesh.ProxyImage(got), got.Annotations[mesh.RevisionLabel]
	if image != want.ProxyImage || rev != want.Revision {
		return fmt.Sprintf("injected %q by revision %q, want %s by revision %q", image, rev, want.ProxyImage, want.Revision)
	}
	return ""
}

func containerImage(containers []corev1.Container, name string) string {
	for _, c := range containers {
		if c.Name == name {
			return c.Image
		}
	}
	return ""
}

func serviceRef(s *admissionv1.ServiceReference) string {
	if s == nil {
		return "no service"
	}
	return s.String()
}
