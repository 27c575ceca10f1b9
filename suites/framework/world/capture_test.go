package world

import (
	"context"
	"testing"

	"istio.io/api/annotation"
	"istio.io/api/label"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// TestCaptureMismatchSkipsWaypoints: a waypoint's pod in an enrolled namespace is never captured
// (istiod labels it istio.io/dataplane-mode=none), so it is not waited on; an uncaptured fixture
// pod there is.
func TestCaptureMismatchSkipsWaypoints(t *testing.T) {
	pod := func(name string, labels, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "foo", Labels: labels, Annotations: annotations},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	captured := map[string]string{annotation.AmbientRedirection.Name: RedirectionEnabled}
	waypoint := pod("waypoint-0", map[string]string{label.IoK8sNetworkingGatewayGatewayName.Name: scenarios.WaypointName}, nil)
	kube := fake.NewClientset(pod("httpbin-0", nil, captured), waypoint)
	if got, err := captureMismatch(context.Background(), kube, []string{"foo"}, true); err != nil || got != "" {
		t.Errorf("with a waypoint pod: %q, %v; want none", got, err)
	}
	kube = fake.NewClientset(pod("httpbin-0", nil, nil), waypoint)
	if got, err := captureMismatch(context.Background(), kube, []string{"foo"}, true); err != nil || got != `pod foo/httpbin-0 has ambient.istio.io/redirection=""` {
		t.Errorf("an uncaptured fixture pod: %q, %v", got, err)
	}
}
