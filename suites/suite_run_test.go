package suites_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/envtestenv"
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
