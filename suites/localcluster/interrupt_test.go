//go:build localcluster

package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// Ctrl-C in the middle of a scenario — SIGINT to the suite's process group once the suite has
// printed that the step is applied and in force (the failing scenario's probes then run for the
// whole convergence timeout) — tears down within the tier's teardown budget and leaves a run
// folder that says it was interrupted. On a cluster the suite did not create nothing it labelled
// is left and istiod stays; on the kind cluster it created no node container is left.
func TestInterrupt(t *testing.T) {
	t.Run("existing cluster", func(t *testing.T) {
		reports := t.TempDir()
		t.Cleanup(func() { restoreFixtures(t) })
		suite := startSuite(t, existingClusterFlags(reports)...)
		took := interruptMidScenario(t, suite)
		t.Logf("interrupted run on an existing cluster: ended %s after SIGINT", took.Round(time.Second))
		if left := managedLeft(t); len(left) != 0 {
			t.Errorf("the interrupted run left %d managed objects: %v", len(left), left)
		}
		if _, err := kube.AppsV1().Deployments("istio-system").Get(ctxFor(t, time.Minute), "istiod", metav1.GetOptions{}); err != nil {
			t.Errorf("istiod, which the run did not install, is gone: %v", err)
		}
		checkInterruptedReport(t, runFolder(t, reports))
	})
	t.Run("kind cluster it created", func(t *testing.T) {
		name := cfg.ClusterName + "-interrupt"
		reports := t.TempDir()
		t.Cleanup(func() {
			if kindContainers(name) != "" { // what a failed teardown left, so later runs can start
				_ = kindcluster.NewProvider().Delete(name, filepath.Join(t.TempDir(), "kubeconfig"))
			}
		})
		suite := startSuite(t, "--cluster=kind", "--cluster-name="+name, "--keep-cluster=false", "--reuse-cluster=false", "--reports-dir="+reports)
		took := interruptMidScenario(t, suite)
		t.Logf("interrupted run on its own kind cluster: ended %s after SIGINT", took.Round(time.Second))
		if left := kindContainers(name); left != "" {
			t.Errorf("the interrupted run left kind containers: %s", left)
		}
		checkInterruptedReport(t, runFolder(t, reports))
	})
}

// interruptMidScenario waits until the failing scenario's step is in force, sends SIGINT to the
// suite's process group, as a terminal's Ctrl-C does, and waits for the suite to end within the
// teardown budget.
func interruptMidScenario(t *testing.T, suite *suiteProcess) time.Duration {
	t.Helper()
	suite.waitForLine(t, failingStepLine, timeouts.Setup)
	if err := syscall.Kill(-suite.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	return suite.wait(t, timeouts.Teardown)
}

// checkInterruptedReport: summary.md's headline, results.json's header and junit.xml (its
// Interrupted property and Ginkgo's interrupted testcase) say the run was interrupted, and
// teardown failed nothing.
func checkInterruptedReport(t *testing.T, run string) {
	t.Helper()
	res, err := report.ReadResults(filepath.Join(run, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Header.Interrupted || res.Header.InterruptedBy != "Interrupted by User" {
		t.Errorf("results.json: interrupted=%v by %q", res.Header.Interrupted, res.Header.InterruptedBy)
	}
	md, err := os.ReadFile(filepath.Join(run, report.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "**⚠ interrupted (Interrupted by User): the run did not finish**") {
		t.Errorf("summary.md's headline does not say interrupted:\n%s", md)
	}
	junit := readJUnit(t, run)
	suite := junit.TestSuites[0]
	if got := suite.Properties.WithName(report.PropertyInterrupted); got != "true" {
		t.Errorf("junit.xml property %s = %q, want true", report.PropertyInterrupted, got)
	}
	interrupted := 0
	for _, tc := range suite.TestCases {
		if tc.Error != nil && tc.Error.Type == "interrupted" {
			interrupted++
		}
		if tc.Failure != nil {
			t.Errorf("junit.xml: %q failed (teardown or cleanup after the interrupt?): %s", tc.Name, tc.Failure.Message)
		}
	}
	if interrupted == 0 {
		t.Error("junit.xml has no interrupted testcase")
	}
}
