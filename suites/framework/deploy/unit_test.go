package deploy

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// TestInjected follows the selectors of the injector's webhooks (istio/istio
// manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml).
func TestInjected(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ns, pod   map[string]string
		installed []string
		want      bool
	}{
		{"istio-injection=enabled", map[string]string{"istio-injection": "enabled"}, nil, nil, true},
		{"enabled but pod opts out", map[string]string{"istio-injection": "enabled"}, map[string]string{"sidecar.istio.io/inject": "false"}, nil, false},
		{"istio-injection=disabled wins over the pod label", map[string]string{"istio-injection": "disabled"}, map[string]string{"sidecar.istio.io/inject": "true"}, nil, false},
		{"no label", nil, nil, nil, false},
		{"no namespace label, pod opts in", nil, map[string]string{"sidecar.istio.io/inject": "true"}, nil, true},
		{"istio.io/rev of an installed revision", map[string]string{"istio.io/rev": "canary"}, nil, []string{"default", "canary"}, true},
		{"istio.io/rev of a revision not installed", map[string]string{"istio.io/rev": "canary"}, nil, []string{"default"}, false},
		{"istio-injection=enabled with only a canary istiod", map[string]string{"istio-injection": "enabled"}, nil, []string{"canary"}, false},
		{"istio-injection takes precedence over istio.io/rev", map[string]string{"istio-injection": "enabled", "istio.io/rev": "canary"}, nil, []string{"default", "canary"}, true},
		{"pod istio.io/rev in an unlabelled namespace", nil, map[string]string{"istio.io/rev": "canary"}, []string{"canary"}, true},
	} {
		if got := Injected(tc.ns, tc.pod, tc.installed); got != tc.want {
			t.Errorf("%s: Injected = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHasSidecar(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want bool
	}{
		{"container", corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "istio-proxy"}}}, true},
		{"native sidecar", corev1.PodSpec{InitContainers: []corev1.Container{{Name: "istio-proxy", RestartPolicy: &always}}, Containers: []corev1.Container{{Name: "app"}}}, true},
		// istio-init (the iptables init container) alone is not a proxy; neither is an
		// istio-proxy init container that runs to completion.
		{"istio-init only", corev1.PodSpec{InitContainers: []corev1.Container{{Name: "istio-init"}}, Containers: []corev1.Container{{Name: "app"}}}, false},
		{"run-once init container", corev1.PodSpec{InitContainers: []corev1.Container{{Name: "istio-proxy"}}, Containers: []corev1.Container{{Name: "app"}}}, false},
		{"none", corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}, false},
	} {
		if got := mesh.HasSidecar(&corev1.Pod{Spec: tc.spec}); got != tc.want {
			t.Errorf("%s: HasSidecar = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLabelFixture(t *testing.T) {
	d := &Deployer{runID: "20261123T080000Z-abcdef"}
	objs, err := fixtures.Objects()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		before := o.DeepCopy()
		got, err := d.LabelFixture(o)
		if err != nil {
			t.Fatal(err)
		}
		if got.GetLabels()[mesh.ManagedByLabel] != "mtls-conformance" || got.GetLabels()[mesh.RunIDLabel] != "20261123T080000Z-abcdef" {
			t.Errorf("%s %s labels %v", got.GetKind(), got.GetName(), got.GetLabels())
		}
		for k, v := range before.GetLabels() {
			if got.GetLabels()[k] != v {
				t.Errorf("%s %s lost label %s=%s", got.GetKind(), got.GetName(), k, v)
			}
		}
		if o.GetLabels()[mesh.ManagedByLabel] != "" {
			t.Errorf("LabelFixture modified the embedded object %s", o.GetName())
		}
		if got.GetKind() == "Deployment" {
			tmpl, _, _ := unstructured.NestedStringMap(got.Object, "spec", "template", "metadata", "labels")
			sel, _, _ := unstructured.NestedStringMap(got.Object, "spec", "selector", "matchLabels")
			if tmpl[mesh.ManagedByLabel] != "mtls-conformance" || tmpl[mesh.RunIDLabel] != "" {
				t.Errorf("Deployment %s template labels %v: want managed-by and no run id", got.GetName(), tmpl)
			}
			if _, ok := sel[mesh.ManagedByLabel]; ok {
				t.Errorf("Deployment %s selector changed: %v", got.GetName(), sel)
			}
		}
	}
}

func TestRolloutPending(t *testing.T) {
	two := int32(2)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: appsv1.DeploymentSpec{Replicas: &two}}
	check := func(want string) {
		t.Helper()
		if got := rolloutPending(dep); got != want {
			t.Errorf("rolloutPending = %q, want %q", got, want)
		}
	}
	dep.Status.ObservedGeneration = 2
	check("generation 3 not yet observed (observed 2)")
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 3, UpdatedReplicas: 1}
	check("1 of 2 replicas updated")
	dep.Status.UpdatedReplicas = 2
	check("1 old replicas pending termination")
	dep.Status.Replicas = 2
	dep.Status.AvailableReplicas = 1
	check("1 of 2 updated replicas available")
	dep.Status.AvailableReplicas = 2
	check("no Available condition yet")
	dep.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable"}}
	check("Available=False (MinimumReplicasUnavailable)")
	dep.Status.Conditions[0].Status = corev1.ConditionTrue
	check("")
}

func TestNewRejectsBadRunID(t *testing.T) {
	for _, id := range []string{"", "has space", strings.Repeat("a", 64), "-leading"} {
		if _, err := New(nil, id); err == nil || !strings.Contains(err.Error(), "is not a valid label value") {
			t.Errorf("New(run id %q) err = %v", id, err)
		}
	}
}
