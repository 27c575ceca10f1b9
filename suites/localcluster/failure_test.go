//go:build localcluster

package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
)

// A node image that cannot boot (the curl image: its command exits at once) makes kind's create
// fail: the error names the failure and where kind's logs went (reports/kind-logs-<name>/), and
// the nodes are deleted; with KEEP_CLUSTER they are kept for inspection.
func TestFailedCreate(t *testing.T) {
	for _, keep := range []bool{false, true} {
		name := cfg.ClusterName + "-broken"
		reports := t.TempDir()
		s := cfg
		s.ClusterName, s.NodeImage, s.ReportsDir, s.KeepCluster, s.ReuseCluster, s.KindPatch = name, cfg.CurlImage, reports, keep, false, ""
		p, err := cluster.NewKind(s, os.Stdout)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = p.Create(ctxFor(t, 3*time.Minute))
		if err == nil {
			t.Fatalf("keep=%v: a cluster from %s came up", keep, cfg.CurlImage)
		}
		logs := filepath.Join(reports, "kind-logs-"+name)
		if !strings.Contains(err.Error(), "creation failed") || !strings.Contains(err.Error(), "kind logs in "+logs) {
			t.Errorf("keep=%v: error %q does not say the creation failed and where the logs are", keep, err)
		}
		entries, _ := os.ReadDir(logs)
		if len(entries) == 0 {
			t.Errorf("keep=%v: no kind logs in %s", keep, logs)
		}
		left := kindContainers(name)
		if keep != (left != "") {
			t.Errorf("keep=%v: containers left after the failed create: %q", keep, left)
		}
		if keep {
			// Delete what KEEP_CLUSTER kept, with a throwaway kubeconfig path (never the user's).
			if err := kindcluster.NewProvider().Delete(name, filepath.Join(t.TempDir(), "kubeconfig")); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("keep=%v: failed in %s: %v", keep, time.Since(start).Round(time.Second), err)
	}
}
