package cluster

import (
	"context"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestExistingClusterOnRealAPIServer connects to a real kube-apiserver through its kubeconfig and
// detects Istio there: CRDs installed (from istio.io/api), then an istiod Deployment shaped like
// the one Istio's istiod chart renders.
func TestExistingClusterOnRealAPIServer(t *testing.T) {
	env := envtestenv.Start(t)
	ctx := context.Background()
	conn, err := Connect(ctx, ConnectOptions{Kubeconfig: env.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	if conn.ServerVersion != "v1.37.2" || strings.TrimSuffix(conn.Server, "/") != strings.TrimSuffix(env.Config.Host, "/") {
		t.Errorf("connection: version %q server %q (want %q)", conn.ServerVersion, conn.Server, env.Config.Host)
	}

	found, err := DetectIstio(ctx, conn.Config)
	if err != nil {
		t.Fatal(err)
	}
	if got := found.Summary(); got != "Istio CRDs installed, no istiod" || found.Installed() {
		t.Errorf("CRDs only: %q installed=%v", got, found.Installed())
	}

	kube, err := kubernetes.NewForConfig(conn.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	labels := map[string]string{"app": "istiod", "istio.io/rev": "default", "istio": "pilot"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod", Namespace: "istio-system", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"istio": "pilot"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Image: "docker.io/istio/pilot:1.30.5-distroless"}}},
			},
		},
	}
	created, err := kube.AppsV1().Deployments("istio-system").Create(ctx, dep, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found, err = DetectIstio(ctx, conn.Config)
	if err != nil {
		t.Fatal(err)
	}
	if got := found.Summary(); got != "istiod istio-system/istiod revision default Istio 1.30.5, not available" || found.Installed() {
		t.Errorf("istiod not yet available: %q installed=%v", got, found.Installed())
	}
	created.Status.ObservedGeneration = created.Generation
	created.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}
	if _, err := kube.AppsV1().Deployments("istio-system").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	found, err = DetectIstio(ctx, conn.Config)
	if err != nil {
		t.Fatal(err)
	}
	if !found.Installed() || len(found.Istiods) != 1 || found.Istiods[0].Version != "1.30.5" {
		t.Errorf("istiod available: %+v", found)
	}
}
