package upgrade

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

const (
	oldPilot = "localhost/mtls-conformance/pilot:1.31.0"
	newPilot = "localhost/mtls-conformance/pilot:1.31.0-upgrade"
	oldProxy = "localhost/mtls-conformance/proxyv2:1.31.0"
	newProxy = "localhost/mtls-conformance/proxyv2:1.31.0-upgrade"
)

// servingCluster is a cluster as CheckServing sees it after an in-place upgrade to newPilot: the
// istiod Deployment rolled out, its pod Ready and answering /ready, the Service's endpoint on
// that pod, the webhooks calling the Service, the injector adding the new sidecar.
type servingCluster struct {
	deployment *appsv1.Deployment
	pods       []*corev1.Pod
	endpoints  []discoveryv1.Endpoint
	injector   *admissionv1.MutatingWebhookConfiguration
	validator  *admissionv1.ValidatingWebhookConfiguration
	// injects and injectedRev are what a dry-run pod comes back with.
	injects, injectedRev string
	// readyStatus is what GET /ready answers.
	readyStatus int
}

func istiodPod(name, image string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system", Labels: map[string]string{"app": "istiod"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Image: image}}},
		Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func readyEndpoint(pod string) discoveryv1.Endpoint {
	ready := true
	return discoveryv1.Endpoint{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}}
}

func newServingCluster() *servingCluster {
	one := int32(1)
	svc := func() *admissionv1.ServiceReference {
		return &admissionv1.ServiceReference{Namespace: "istio-system", Name: "istiod"}
	}
	return &servingCluster{
		deployment: &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "istiod", Namespace: "istio-system", Generation: 2},
			Spec: appsv1.DeploymentSpec{
				Replicas: &one,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod"}},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Image: newPilot}}}},
			},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1},
		},
		pods:      []*corev1.Pod{istiodPod("istiod-new", newPilot, true)},
		endpoints: []discoveryv1.Endpoint{readyEndpoint("istiod-new")},
		injector: &admissionv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector", Labels: map[string]string{mesh.RevisionLabel: DefaultRevision}},
			Webhooks:   []admissionv1.MutatingWebhook{{Name: "rev.namespace.sidecar-injector.istio.io", ClientConfig: admissionv1.WebhookClientConfig{Service: svc()}}},
		},
		validator: &admissionv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: defaultValidator},
			Webhooks:   []admissionv1.ValidatingWebhook{{Name: "validation.istio.io", ClientConfig: admissionv1.WebhookClientConfig{Service: svc()}}},
		},
		injects: newProxy, injectedRev: DefaultRevision, readyStatus: http.StatusOK,
	}
}

// proxyAnswer is the API server's pod proxy answering with a status code.
type proxyAnswer int

func (a proxyAnswer) DoRaw(context.Context) ([]byte, error) {
	if a != http.StatusOK {
		return []byte("not ready"), fmt.Errorf("the server returned HTTP %d", int(a))
	}
	return []byte("ok"), nil
}
func (a proxyAnswer) Stream(context.Context) (io.ReadCloser, error) {
	return nil, fmt.Errorf("no stream")
}

func (c *servingCluster) client() *fake.Clientset {
	objs := []runtime.Object{c.deployment, c.injector, c.validator,
		&discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "istiod-abc", Namespace: "istio-system", Labels: map[string]string{discoveryv1.LabelServiceName: "istiod"}},
			Endpoints:  c.endpoints,
		}}
	for _, p := range c.pods {
		objs = append(objs, p)
	}
	kube := fake.NewClientset(objs...)
	kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		pod.Annotations = map[string]string{mesh.RevisionLabel: c.injectedRev}
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: mesh.SidecarContainer, Image: c.injects})
		return true, pod, nil
	})
	kube.PrependProxyReactor("pods", func(k8stesting.Action) (bool, rest.ResponseWrapper, error) {
		return true, proxyAnswer(c.readyStatus), nil
	})
	return kube
}

func inPlaceWant() Serving {
	return Serving{Namespace: "istio-system", Revision: DefaultRevision, Deployment: "istiod", Image: newPilot, ProxyImage: newProxy,
		Retired: []string{oldPilot}, DefaultValidator: true}
}

// CheckServing passes only when the new istiod is the one serving; each way the old one can
// still serve (or the new one not answer) fails it with its own reason.
func TestCheckServing(t *testing.T) {
	if err := CheckServing(t.Context(), newServingCluster().client(), inPlaceWant()); err != nil {
		t.Fatalf("the new istiod serves alone: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*servingCluster)
		want   string
	}{
		{"old replica left", func(c *servingCluster) {
			c.deployment.Status.Replicas = 2
			c.pods = append(c.pods, istiodPod("istiod-old", oldPilot, true))
		}, "1 old replicas are pending termination"},
		{"old pod still runs", func(c *servingCluster) {
			c.pods = append(c.pods, istiodPod("istiod-old", oldPilot, true))
		}, "pod istiod-old of the old control plane still runs " + oldPilot},
		{"old pod terminating", func(c *servingCluster) {
			old := istiodPod("istiod-old", oldPilot, false)
			now := metav1.Now()
			old.DeletionTimestamp, old.Finalizers = &now, []string{"test"}
			c.pods = append(c.pods, old)
		}, "pod istiod-old of the old control plane is still terminating, running " + oldPilot},
		{"Service still sends to the old pod", func(c *servingCluster) {
			c.pods = append(c.pods, istiodPod("istiod-old", oldPilot, false))
			c.endpoints = append(c.endpoints, readyEndpoint("istiod-old"))
		}, "Service istiod sends to pod istiod-old running \"" + oldPilot + "\""},
		{"Deployment not upgraded", func(c *servingCluster) {
			c.deployment.Spec.Template.Spec.Containers[0].Image = oldPilot
		}, "Deployment istiod runs \"" + oldPilot + "\", not " + newPilot},
		{"new pod not Ready", func(c *servingCluster) {
			c.pods = []*corev1.Pod{istiodPod("istiod-new", newPilot, false)}
		}, "pod istiod-new is not Ready"},
		{"new pod does not answer", func(c *servingCluster) { c.readyStatus = http.StatusServiceUnavailable }, "pod istiod-new does not answer GET :8080/ready"},
		{"no endpoint", func(c *servingCluster) { c.endpoints = nil }, "Service istiod has no ready endpoint"},
		{"injection webhook calls another Service", func(c *servingCluster) {
			c.injector.Webhooks[0].ClientConfig.Service.Name = "istiod-old"
		}, "injection webhook istio-sidecar-injector/rev.namespace.sidecar-injector.istio.io does not call Service istio-system/istiod"},
		{"default validator calls another Service", func(c *servingCluster) {
			c.validator.Webhooks[0].ClientConfig.Service.Name = "istiod-1-30-5"
		}, "istiod-default-validator/validation.istio.io does not call Service istio-system/istiod"},
		{"injector adds the old sidecar", func(c *servingCluster) { c.injects = oldProxy }, "injected \"" + oldProxy + "\" by revision \"default\", want " + newProxy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newServingCluster()
			tc.change(c)
			err := CheckServing(t.Context(), c.client(), inPlaceWant())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A namespace moved to a canary revision must come back injected by it.
func TestCheckServingMovedNamespace(t *testing.T) {
	c := newServingCluster()
	want := inPlaceWant()
	want.Namespaces = []string{"foo"}
	if err := CheckServing(t.Context(), c.client(), want); err != nil {
		t.Fatal(err)
	}
	c.injectedRev = "1-31-0"
	err := CheckServing(t.Context(), c.client(), want)
	if err == nil || !strings.Contains(err.Error(), "a pod in namespace foo: injected \""+newProxy+"\" by revision \"1-31-0\", want "+newProxy+" by revision \"default\"") {
		t.Errorf("got %v", err)
	}
}

// WaitServing passes once CheckServing does, and after its timeout fails with the last reason.
func TestWaitServing(t *testing.T) {
	if err := WaitServing(t.Context(), newServingCluster().client(), inPlaceWant(), 5*time.Second); err != nil {
		t.Errorf("serving: %v", err)
	}
	c := newServingCluster()
	c.pods = append(c.pods, istiodPod("istiod-old", oldPilot, true))
	err := WaitServing(t.Context(), c.client(), inPlaceWant(), 2*time.Second)
	if err == nil || !strings.HasPrefix(err.Error(), "after 2s: ") || !strings.Contains(err.Error(), "pod istiod-old of the old control plane still runs") {
		t.Errorf("got %v", err)
	}
}
