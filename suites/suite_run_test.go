package suites_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/envtestenv"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// TestMTLSSuiteOnAClusterWithoutIstio runs the real conformance suite (not a dry run) against a
// real kube-apiserver given as an existing cluster that has no Istio: the run must fail at the
// istio step, write junit.xml with an "[Infrastructure] istio" testcase and the suite properties,
// skip every scenario, and leave no object behind.
func TestMTLSSuiteOnAClusterWithoutIstio(t *testing.T) {
	env := envtestenv.Start(t)
	reports := t.TempDir()
	cmd := exec.Command("go", "tool", "ginkgo", "--tags", "e2e", "--no-color", "./mtls", "--",
		"--cluster=existing", "--kubeconfig="+env.Kubeconfig, "--reports-dir="+reports)
	cmd.Env = append(os.Environ(), "ISTIO_VERSION=", "KUBE_CONTEXT=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed on a cluster without Istio:\n%s", out)
	}
	junit, err := os.ReadFile(filepath.Join(reports, "latest", "junit.xml"))
	if err != nil {
		t.Fatalf("no junit.xml: %v\n%s", err, out)
	}
	for _, want := range []string{
		`<testcase name="[Infrastructure] istio"`,
		`rerun with --install-istio`,
		`<property name="ClusterMode" value="existing">`,
		`<property name="KubernetesVersion" value="v1.37.2">`,
	} {
		if !strings.Contains(string(junit), want) {
			t.Errorf("junit.xml lacks %q", want)
		}
	}
	if strings.Contains(string(junit), "BEGIN") || strings.Contains(string(junit), "token") {
		t.Error("junit.xml must hold no credentials")
	}
	d, err := deploy.New(env.Config, "check")
	if err != nil {
		t.Fatal(err)
	}
	left, err := d.ListManaged(t.Context())
	if err != nil || len(left) != 0 {
		t.Fatalf("managed objects left: %v %v", left, err)
	}
}

// TestMTLSSuiteRunsAScenario runs one scenario of the real suite against a real kube-apiserver
// with a stand-in istiod and stand-in controllers (no kubelet, so every exec fails): the scenario
// applies its policy, every probe of the matrix is recorded in results.json as an infrastructure
// error — never as a verdict on mTLS —, summary.md has its grid, and teardown leaves no managed
// object while the user's istiod survives.
func TestMTLSSuiteRunsAScenario(t *testing.T) {
	env := envtestenv.Start(t)
	kube, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	deploytest.NamespaceFinalizer(t, kube)
	ctx := t.Context()
	deploytest.StandInIstiod(t, kube, "1.31.1")
	deploytest.StandInControllers(t, kube)
	// Watch for the scenario's policy while the suite runs.
	ic, err := istioclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	var sawPolicy atomic.Bool
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		_ = wait.PollUntilContextCancel(watchCtx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			pa, err := ic.SecurityV1().PeerAuthentications("foo").Get(ctx, "default", metav1.GetOptions{})
			if err == nil && pa.Labels[deploy.ManagedByLabel] == deploy.ManagedByValue && pa.Spec.GetMtls().GetMode().String() == "STRICT" {
				sawPolicy.Store(true)
				return true, nil
			}
			return false, nil
		})
	}()

	reports := t.TempDir()
	cmd := exec.Command("go", "tool", "ginkgo", "--tags", "e2e", "--no-color", "--label-filter=namespace-strict", "./mtls", "--",
		"--cluster=existing", "--kubeconfig="+env.Kubeconfig, "--reports-dir="+reports,
		"--converge-timeout=3s", "--consecutive=1")
	cmd.Env = append(os.Environ(), "ISTIO_VERSION=", "KUBE_CONTEXT=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed although no exec can run:\n%s", out)
	}
	results, err := report.ReadResults(filepath.Join(reports, "latest", "results.json"))
	if err != nil {
		t.Fatalf("results.json: %v\n%s", err, out)
	}
	infra := 0
	for _, r := range results.Probes {
		if r.Scenario != "namespace-strict" {
			t.Errorf("probe of scenario %q recorded; the label filter selected namespace-strict only", r.Scenario)
		}
		if r.Verdict == report.VerdictInfraError {
			infra++
		}
	}
	if len(results.Probes) != 36 || infra != 36 {
		t.Fatalf("%d probes recorded, %d infrastructure errors; want 36 and 36\n%s", len(results.Probes), infra, out)
	}
	summary, err := os.ReadFile(filepath.Join(reports, "latest", "summary.md"))
	if err != nil || !strings.Contains(string(summary), "namespace-strict") {
		t.Fatalf("summary.md: %v", err)
	}
	if !sawPolicy.Load() {
		t.Error("the scenario's PeerAuthentication foo/default (labelled managed-by) was never seen in the cluster")
	}
	if _, err := ic.SecurityV1().PeerAuthentications("foo").Get(ctx, "default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PeerAuthentication foo/default must be gone after the run: %v", err)
	}
	d, err := deploy.New(env.Config, "check")
	if err != nil {
		t.Fatal(err)
	}
	if left, err := d.ListManaged(ctx); err != nil || len(left) != 0 {
		t.Fatalf("managed objects left: %v %v", left, err)
	}
	if _, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{}); err != nil {
		t.Fatalf("the user's istiod must survive: %v", err)
	}
}
