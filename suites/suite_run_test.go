package suites_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/upgrade"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// TestMTLSSuiteOnAClusterWithoutIstio runs the real conformance suite (not a dry run) against a
// real kube-apiserver given as an existing cluster that has no Istio: the run must fail at the
// istio step, write junit.xml with an "[Infrastructure] istio" testcase and the suite properties,
// skip every scenario, and leave no object behind.
func TestMTLSSuiteOnAClusterWithoutIstio(t *testing.T) {
	env := envtestenv.Start(t)
	reports := t.TempDir()
	out := runFailingSuite(t, "the suite passed on a cluster without Istio", []string{"./mtls", "--",
		"--cluster=existing", "--kubeconfig=" + env.Kubeconfig, "--reports-dir=" + reports}, "ISTIO_VERSION=", "KUBE_CONTEXT=")
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
	noManagedObjects(t, env)
}

// TestMTLSSuiteRunsAScenario runs one scenario of the real suite against a real kube-apiserver
// with a stand-in istiod and stand-in controllers (no kubelet, so every exec fails): the scenario
// applies its policy, every probe of the matrix is recorded in results.json as an infrastructure
// error — never as a verdict on mTLS —, summary.md has its grid, and teardown leaves no managed
// object while the user's istiod survives.
func TestMTLSSuiteRunsAScenario(t *testing.T) {
	env, kube := deploytest.StandInMesh(t)
	ctx := t.Context()
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
			if err == nil && pa.Labels[mesh.ManagedByLabel] == mesh.ManagedByValue && pa.Spec.GetMtls().GetMode().String() == "STRICT" {
				sawPolicy.Store(true)
				return true, nil
			}
			return false, nil
		})
	}()

	reports, results, out := runScenarios(t, env, "namespace-strict", "")
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
	if !strings.Contains(string(summary), "| Topology | documented (foo, bar injected) |") {
		t.Error("summary.md header does not say the documented topology")
	}
	// Each failed probe's diagnostics start with its failure, the text its record holds.
	failures, err := filepath.Glob(filepath.Join(reports, "latest", report.DiagnosticsDir, "*", "failure.txt"))
	if err != nil || len(failures) == 0 {
		t.Fatalf("no diagnostics/*/failure.txt: %v\n%s", err, out)
	}
	messages := map[string]bool{}
	for _, r := range results.Probes {
		messages[strings.TrimSpace(r.Message)] = true
	}
	for _, f := range failures {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, failure, _ := strings.Cut(string(data), "\n\n")
		if failure = strings.TrimSpace(failure); !messages[failure] {
			t.Errorf("%s: failure %q is not the message of any recorded probe", f, failure)
		}
	}
	if !sawPolicy.Load() {
		t.Error("the scenario's PeerAuthentication foo/default (labelled managed-by) was never seen in the cluster")
	}
	if _, err := ic.SecurityV1().PeerAuthentications("foo").Get(ctx, "default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PeerAuthentication foo/default must be gone after the run: %v", err)
	}
	noManagedObjects(t, env)
	if _, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{}); err != nil {
		t.Fatalf("the user's istiod must survive: %v", err)
	}
}

// TestMTLSSuiteWithoutSidecarsExpectsTheOracle runs the real suite with INJECT=none, as the local
// kind tier does, against a real kube-apiserver with a stand-in istiod: namespace STRICT in foo
// is expected, probe by probe, as the oracle predicts it with no sidecar anywhere (plaintext 200:
// nothing enforces), not as the catalog writes it for the documented topology; the scenario
// that relabels a namespace for injection is skipped, every probe recorded with the reason; and
// the report's header says where the expectations came from.
func TestMTLSSuiteWithoutSidecarsExpectsTheOracle(t *testing.T) {
	env, _ := deploytest.StandInMesh(t)
	reports, results, out := runScenarios(t, env, "namespace-strict || utilities-injection", "none")
	const topology = "INJECT=none — expectations from the oracle, not the catalog"
	if results.Header.Topology != topology {
		t.Errorf("results.json topology %q, want %q", results.Header.Topology, topology)
	}
	const reason = "changes injection; INJECT=none fixes the injected namespaces"
	count := map[string]int{}
	for _, r := range results.Probes {
		count[r.Scenario]++
		switch r.Scenario {
		case "namespace-strict":
			if r.Expected.Class() != scenarios.ClassPlaintext || r.Expected.HTTPCode != 200 || r.Expected.ExitCode != 0 || r.Expected.XFCC != nil {
				t.Errorf("%s: expected %s, want plaintext 200 (no sidecar enforces STRICT)", r.Key(), r.Expected)
			}
			if r.Verdict != report.VerdictInfraError {
				t.Errorf("%s: verdict %s, want %s (no kubelet to exec in)", r.Key(), r.Verdict, report.VerdictInfraError)
			}
		case "utilities-injection":
			if r.Verdict != report.VerdictSkipped || r.Message != reason {
				t.Errorf("%s: %s %q, want skipped %q", r.Key(), r.Verdict, r.Message, reason)
			}
		default:
			t.Errorf("probe of scenario %q recorded; the label filter selected two scenarios", r.Scenario)
		}
	}
	if count["namespace-strict"] != 36 || count["utilities-injection"] != 2*36 {
		t.Fatalf("recorded %v, want 36 namespace-strict and 72 utilities-injection probes\n%s", count, out)
	}
	summary, err := os.ReadFile(filepath.Join(reports, "latest", "summary.md"))
	if err != nil || !strings.Contains(string(summary), "| Topology | "+topology+" |") {
		t.Errorf("summary.md header lacks the topology (%v)", err)
	}
	var suites reporters.JUnitTestSuites
	if data, err := os.ReadFile(filepath.Join(reports, "latest", report.JUnitFile)); err != nil || xml.Unmarshal(data, &suites) != nil || len(suites.TestSuites) != 1 {
		t.Fatalf("junit.xml: %v", err)
	}
	if got := suites.TestSuites[0].Properties.WithName(report.PropertyTopology); got != topology {
		t.Errorf("junit property %s = %q, want %q", report.PropertyTopology, got, topology)
	}
	noManagedObjects(t, env)
}

// TestSuitesReportAnEarlySetupFailureOnce runs both real suites in kind mode with an Istio charts
// directory that does not exist, so each stops at its first setup step, before any cluster
// exists. Each must print the error's own line (not Gomega's dump of the error's structs),
// write a junit.xml whose one failure is the "[Infrastructure] <step>" testcase, counted once,
// and fill the suite properties from the resolved settings although no stage has run.
func TestSuitesReportAnEarlySetupFailureOnce(t *testing.T) {
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	mtlsImage, err := pins.NodeImageFor(pins.DefaultIstio)
	if err != nil {
		t.Fatal(err)
	}
	up, err := upgrade.DefaultOptions()
	if err != nil {
		t.Fatal(err)
	}
	upgradeImage, err := pins.UpgradeNodeImage(up.From, up.To)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		suite, step, istio, nodeImage string
	}{
		{"./mtls", "istio", pins.DefaultIstio, mtlsImage},
		// The upgrade suite checks the TO charts first; it installs FROM.
		{"./upgrade", "istio " + up.To, up.From, upgradeImage},
	} {
		t.Run(c.suite, func(t *testing.T) {
			reports := t.TempDir()
			charts := filepath.Join(t.TempDir(), "missing")
			out := runFailingSuite(t, "the suite passed without Istio charts", []string{c.suite, "--",
				"--cluster=kind", "--reports-dir=" + reports, "--istio-charts=" + charts},
				"ISTIO_VERSION=", "NODE_IMAGE=", "CLUSTER=", "CLUSTER_NAME=", "KUBE_CONTEXT=",
				"ISTIO_CHARTS=", "ISTIO_HUB=", "ISTIO_TAG=", "UPGRADE_FROM=", "UPGRADE_TO=", "UPGRADE_MODE=")
			wantMessage := fmt.Sprintf("%s: Istio charts directory %q is not a directory", c.step, charts)
			if !strings.Contains(string(out), "[FAILED] "+wantMessage+"\n") {
				t.Errorf("the console does not say the error's own line %q:\n%s", wantMessage, out)
			}
			for _, dump := range []string{"<*fmt.wrapError", "Expected success", "{msg:"} {
				if strings.Contains(string(out), dump) {
					t.Errorf("the console prints Gomega's error dump (%q):\n%s", dump, out)
				}
			}
			runDir, err := report.Latest(reports)
			if err != nil {
				t.Fatalf("no run folder: %v\n%s", err, out)
			}
			data, err := os.ReadFile(filepath.Join(runDir, report.JUnitFile))
			if err != nil {
				t.Fatalf("no junit.xml: %v\n%s", err, out)
			}
			var suites reporters.JUnitTestSuites
			if err := xml.Unmarshal(data, &suites); err != nil || len(suites.TestSuites) != 1 {
				t.Fatalf("junit.xml: %v\n%s", err, data)
			}
			suite := suites.TestSuites[0]
			var failed []reporters.JUnitTestCase
			for _, tc := range suite.TestCases {
				if tc.Failure != nil || tc.Error != nil {
					failed = append(failed, tc)
				}
			}
			if len(failed) != 1 || suites.Failures != 1 || suites.Errors != 0 || suite.Failures != 1 {
				var names []string
				for _, tc := range failed {
					names = append(names, tc.Name)
				}
				t.Errorf("want one failed testcase counted once, got failures=%d errors=%d: %q", suites.Failures, suites.Errors, names)
			} else if tc := failed[0]; tc.Name != "[Infrastructure] "+c.step || tc.Failure == nil ||
				tc.Failure.Message != fmt.Sprintf("%s failed: Istio charts directory %q is not a directory", c.step, charts) {
				t.Errorf("failed testcase %q: %+v", tc.Name, tc.Failure)
			}
			for name, want := range map[string]string{
				report.PropertyRunID:        filepath.Base(runDir),
				report.PropertyClusterMode:  "kind",
				report.PropertyIstioVersion: c.istio,
				report.PropertyNodeImage:    c.nodeImage,
			} {
				if got := suite.Properties.WithName(name); got != want {
					t.Errorf("property %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// runFailingSuite runs a real suite (ginkgo with the e2e tag and args, the environment overridden
// by env) that must fail, and returns its output; a suite that passes fails the test with why.
func runFailingSuite(t *testing.T, passed string, args []string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "ginkgo", "--tags", "e2e", "--no-color"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s:\n%s", passed, out)
	}
	return out
}

// runScenarios runs the mtls suite's scenarios the label filter selects on env as an existing
// cluster, with INJECT=inject and a short convergence; it must fail (no exec can run). It returns
// the reports directory, results.json and the suite's output.
func runScenarios(t *testing.T, env *envtestenv.Env, labelFilter, inject string) (string, *report.Results, []byte) {
	t.Helper()
	reports := t.TempDir()
	out := runFailingSuite(t, "the suite passed although no exec can run", []string{"--label-filter=" + labelFilter, "./mtls", "--",
		"--cluster=existing", "--kubeconfig=" + env.Kubeconfig, "--reports-dir=" + reports,
		"--converge-timeout=3s", "--consecutive=1"}, "ISTIO_VERSION=", "KUBE_CONTEXT=", "INJECT="+inject)
	results, err := report.ReadResults(filepath.Join(reports, "latest", "results.json"))
	if err != nil {
		t.Fatalf("results.json: %v\n%s", err, out)
	}
	return reports, results, out
}

// noManagedObjects fails the test when the run left an object labelled as the suite's.
func noManagedObjects(t *testing.T, env *envtestenv.Env) {
	t.Helper()
	d, err := deploy.New(env.Config, "check")
	if err != nil {
		t.Fatal(err)
	}
	if left, err := d.ListManaged(t.Context()); err != nil || len(left) != 0 {
		t.Fatalf("managed objects left: %v %v", left, err)
	}
}
