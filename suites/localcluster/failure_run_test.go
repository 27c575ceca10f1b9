//go:build localcluster

package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/diagnostics"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// The mtls suite, run for real on this cluster (CLUSTER=existing) with the test-only scenario
// of scenarios/testdata/failing, whose one deliberately wrong expectation (sleep.legacy →
// httpbin.foo:8000 reset, where no sidecar enforces anything) must be the one failed spec: its
// diagnostics hold both pods' logs, the namespaces' events and the applied policy, and a token
// planted in both pods' logs while the step runs appears in no file of the run folder.
func TestFailureRunOnTheLocalCluster(t *testing.T) {
	reports := t.TempDir()
	token := newPlantedToken(t)
	start := time.Now()
	t.Cleanup(func() { restoreFixtures(t) })
	// A shorter convergence timeout than the default 2 min: the wrong expectation fails after it;
	// the others, and the baseline after the scenario, need 3 matches in a row within it, which
	// takes seconds, or tens of seconds when every exec is slow on a loaded machine.
	suite := startSuite(t, append(existingClusterFlags(reports), "--converge-timeout=90s")...)
	suite.waitForLine(t, failingStepLine, timeouts.Setup)
	token.plant(t)
	suite.wait(t, timeouts.Setup)
	t.Logf("suite run with one failure: %s", time.Since(start).Round(time.Second))
	if suite.err == nil {
		t.Error("the suite passed with a wrong expectation")
	}
	run := runFolder(t, reports)

	// Exactly one failed spec, the wrong expectation; no errors (interrupted, panicked).
	junit := readJUnit(t, run)
	var failed []string
	for _, tc := range junit.TestSuites[0].TestCases {
		if tc.Failure != nil || tc.Error != nil {
			failed = append(failed, tc.Name)
		}
	}
	if junit.Failures != 1 || junit.Errors != 0 || len(failed) != 1 || !strings.Contains(failed[0], "sleep.legacy → httpbin.foo:8000 is reset") {
		t.Errorf("junit.xml: %d failures, %d errors, failed testcases %q; want exactly the wrong expectation", junit.Failures, junit.Errors, failed)
	}
	res, err := report.ReadResults(filepath.Join(run, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	counts := res.Count()
	if counts[report.VerdictFail] != 1 || counts[report.VerdictPass] != len(res.Probes)-1 || len(res.Probes) != 36 || res.Header.Interrupted {
		t.Errorf("results.json: %v of %d probes, interrupted %v; want 35 passed and 1 failed", counts, len(res.Probes), res.Header.Interrupted)
	}

	// One diagnostics folder, holding what explains the failure.
	specs, _ := filepath.Glob(filepath.Join(run, report.DiagnosticsDir, "0*"))
	if len(specs) != 1 {
		t.Fatalf("diagnostics folders %v, want one (the failed spec's)", specs)
	}
	diag := specs[0]
	expectFile := func(pattern string, wants ...string) {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(diag, pattern))
		if len(files) != 1 {
			t.Errorf("diagnostics: %d files %s, want 1", len(files), pattern)
			return
		}
		data, _ := os.ReadFile(files[0])
		for _, want := range wants {
			if !strings.Contains(string(data), want) {
				t.Errorf("%s lacks %q:\n%s", filepath.Base(files[0]), want, data)
			}
		}
	}
	expectFile("failure.txt", "sleep.legacy → httpbin.foo:8000")
	// The planted lines are there, redacted: the logs were collected, not merely left out.
	expectFile("client-sleep-*-sleep.log", "Authorization: Bearer "+diagnostics.Redacted)
	expectFile("server-httpbin-*-httpbin.log", "uri=/anything/"+diagnostics.Redacted)
	expectFile("events-foo.txt", "Pod/httpbin-")
	expectFile("events-legacy.txt", "Pod/sleep-")
	expectFile("policies.yaml", "kind: PeerAuthentication", "name: default", "namespace: foo", "mode: STRICT")

	// The token, nowhere: every file of the run folder, diagnostics, journal and JUnit included.
	leaks, n := token.leaks(t, reports)
	if len(leaks) > 0 {
		t.Errorf("the planted token is in %v", leaks)
	}
	t.Logf("token absent from all %d files under %s", n, reports)
	if left := managedLeft(t); len(left) != 0 {
		t.Errorf("the run left %d managed objects: %v", len(left), left)
	}
}
