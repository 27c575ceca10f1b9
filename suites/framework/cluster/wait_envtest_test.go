package cluster

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/klient"

	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
)

// TestWaitForControlPlaneOnRealAPIServer: after kind's create (whose own wait only warns when
// it runs out of time) the provider waits for every node Ready and the CoreDNS Deployment
// available, and fails with one line saying which is missing.
func TestWaitForControlPlaneOnRealAPIServer(t *testing.T) {
	env := envtestenv.Start(t)
	ctx := t.Context()
	client, err := klient.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	kube := env.Kube(t)
	p := &Provider{name: "mtls-conformance", workers: 1, controlPlaneTimeout: 2 * time.Second, controlPlanePoll: 100 * time.Millisecond}

	err = p.waitForControlPlane(ctx, client)
	want := "kind cluster mtls-conformance: not ready within 2s: 0 of 2 nodes Ready; Deployment kube-system/coredns not found"
	if err == nil || err.Error() != want {
		t.Fatalf("empty cluster: err = %v\nwant %s", err, want)
	}

	ready := func(name string, status corev1.ConditionStatus) {
		t.Helper()
		n, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ready("mtls-conformance-control-plane", corev1.ConditionTrue)
	ready("mtls-conformance-worker", corev1.ConditionFalse)
	two := int32(2)
	dep, err := kube.AppsV1().Deployments("kube-system").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Labels: map[string]string{"k8s-app": "kube-dns"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"k8s-app": "kube-dns"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "coredns", Image: "registry.k8s.io/coredns/coredns:v1.12.4"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = p.waitForControlPlane(ctx, client)
	want = "kind cluster mtls-conformance: not ready within 2s: 1 of 2 nodes Ready (not Ready: mtls-conformance-worker); Deployment kube-system/coredns not available (0 of 2 replicas)"
	if err == nil || err.Error() != want {
		t.Fatalf("worker NotReady, CoreDNS unavailable: err = %v\nwant %s", err, want)
	}

	// Both become ready while the provider waits.
	p.controlPlaneTimeout = time.Minute
	err = deploytest.ReturnsAfter(t, func() error { return p.waitForControlPlane(ctx, client) }, func() {
		n, err := kube.CoreV1().Nodes().Get(ctx, "mtls-conformance-worker", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions[0].Status = corev1.ConditionTrue
		if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		dep.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}}
		if _, err := kube.AppsV1().Deployments("kube-system").UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatalf("ready cluster: %v", err)
	}
}
