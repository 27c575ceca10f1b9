//go:build localcluster

package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
)

func TestNodesReady(t *testing.T) {
	nodes, err := kube.CoreV1().Nodes().List(ctxFor(t, time.Minute), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) == 0 {
		t.Fatal("no nodes")
	}
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("node %s is not Ready", n.Name)
		}
		if got := n.Status.NodeInfo.KubeletVersion; got != w.Env.KubernetesVersion {
			t.Errorf("node %s runs kubelet %s, the apiserver is %s", n.Name, got, w.Env.KubernetesVersion)
		}
	}
	if w.Env.NodeImage != cfg.NodeImage || !w.Created {
		t.Errorf("node image %q (want %q), created %v", w.Env.NodeImage, cfg.NodeImage, w.Created)
	}
}

// The kind kubeconfig is a private temp file; the user's ~/.kube/config is never written
// (TestMain compares it before and after the run).
func TestKubeconfigIsPrivate(t *testing.T) {
	info, err := os.Stat(w.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig %s has mode %o, want 600", w.Kubeconfig, info.Mode().Perm())
	}
	if !strings.HasPrefix(w.Kubeconfig, filepath.Clean(os.TempDir())+string(filepath.Separator)) {
		t.Errorf("kubeconfig %s is not under %s", w.Kubeconfig, os.TempDir())
	}
	home, _ := os.UserHomeDir()
	if w.Kubeconfig == filepath.Join(home, ".kube", "config") {
		t.Error("the run wrote the user's kubeconfig")
	}
}

// REUSE_CLUSTER runs on the existing cluster of that name and never deletes it.
func TestReuseNeverDeletes(t *testing.T) {
	s := cfg
	s.ReuseCluster, s.KeepCluster = true, false
	p, err := cluster.NewKind(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, 2*time.Minute)
	kubeconfig, err := p.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Created() {
		t.Error("a reused cluster counts as created (Destroy would delete it)")
	}
	if kubeconfig == w.Kubeconfig {
		t.Error("the reusing run shares the creating run's kubeconfig file")
	}
	if err := p.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if kindContainers(cfg.ClusterName) == "" {
		t.Fatal("Destroy of a reused cluster deleted it")
	}
	if _, err := os.Stat(kubeconfig); !os.IsNotExist(err) {
		t.Errorf("the reusing run's temp kubeconfig %s is left: %v", kubeconfig, err)
	}
}
