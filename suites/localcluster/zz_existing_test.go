//go:build localcluster

package localcluster

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
)

// On a cluster it did not create (CLUSTER=existing), a run uses the Istio it finds, removes what
// an earlier run left, deploys its fixtures and, at teardown, deletes every object it labelled
// and nothing else: istiod and the user's objects stay. Runs last (go test runs files in name
// order): it replaces the fixtures.
func TestZExistingClusterLeavesNothing(t *testing.T) {
	ctx := ctxFor(t, timeouts.Setup)
	// Something of the user's, in a namespace the suite does not own.
	userCM := "users-own"
	if _, err := kube.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: userCM}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := cfg
	s.ClusterMode, s.Kubeconfig, s.LoadImages, s.KindPatch, s.NodeImage = settings.ModeExisting, w.Kubeconfig, false, "", ""
	s.Context = "kind-" + cfg.ClusterName
	s.ReportsDir = t.TempDir()
	run, err := report.NewRun(s.ReportsDir)
	if err != nil {
		t.Fatal(err)
	}
	existing, err := world.New(s, run, os.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	setupErr := existing.Setup(ctx)
	teardownErr := existing.Teardown(timeouts.Teardown)
	if setupErr != nil {
		t.Fatalf("setup on the existing cluster: %v", setupErr)
	}
	if teardownErr != nil {
		t.Fatalf("teardown: %v", teardownErr)
	}
	if existing.Created {
		t.Error("an existing cluster counted as created")
	}
	left, err := w.Deployer.ListManaged(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("teardown left %d managed objects: %v", len(left), left)
	}
	if _, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{}); err != nil {
		t.Errorf("istiod, which the run did not install, is gone: %v", err)
	}
	if _, err := kube.CoreV1().ConfigMaps("default").Get(ctx, userCM, metav1.GetOptions{}); err != nil {
		t.Errorf("the user's ConfigMap is gone: %v", err)
	}
}
