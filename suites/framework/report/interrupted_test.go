package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

// interruptedReport is what Ginkgo hands ReportAfterSuite after Ctrl-C in the middle of a step:
// the spec whose BeforeAll was applying the step is interrupted, the rest of the scenario
// skipped, and the suite carries Ginkgo's cause (internal/interrupt_handler InterruptCause).
func interruptedReport() types.Report {
	rep := failedSetupReport()
	rep.SpecReports = types.SpecReports{
		{
			ContainerHierarchyTexts: []string{"mTLS conformance", "namespace-strict", "step 1/1: foo STRICT"},
			LeafNodeType:            types.NodeTypeIt,
			LeafNodeText:            "sleep.legacy → httpbin.foo:8000 is reset (exit 56)",
			State:                   types.SpecStateInterrupted,
			Failure:                 types.Failure{Message: "Interrupted by User"},
		},
		{
			ContainerHierarchyTexts: []string{"mTLS conformance", "namespace-strict", "step 1/1: foo STRICT"},
			LeafNodeType:            types.NodeTypeIt,
			LeafNodeText:            "sleep.foo → httpbin.foo:8000 succeeds over mTLS",
			State:                   types.SpecStateSkipped,
			Failure:                 types.Failure{Message: "Interrupted by User"},
		},
	}
	rep.SpecialSuiteFailureReasons = []string{"Interrupted by User"}
	return rep
}

// finishedRun is a new run finished with Ginkgo's report rep, and its results.json.
func finishedRun(t *testing.T, rep types.Report) (*Run, *Results) {
	t.Helper()
	run, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Finish(&rep); err != nil {
		t.Fatal(err)
	}
	res, err := ReadResults(filepath.Join(run.Dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	return run, res
}

// A run stopped by Ctrl-C (or SIGTERM) says so in all three files: results.json's header,
// summary.md's headline and a JUnit suite property, not merely "no probe was recorded".
func TestFinishSaysInterrupted(t *testing.T) {
	run, res := finishedRun(t, interruptedReport())
	if !res.Header.Interrupted || res.Header.InterruptedBy != "Interrupted by User" {
		t.Errorf("results.json header: interrupted=%v interruptedBy=%q, want true and Ginkgo's cause", res.Header.Interrupted, res.Header.InterruptedBy)
	}
	md, err := os.ReadFile(filepath.Join(run.Dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "**⚠ interrupted (Interrupted by User): the run did not finish** · 0 probes recorded"; !strings.Contains(string(md), want) {
		t.Errorf("summary.md lacks the headline %q:\n%s", want, md)
	}
	suites, _ := readJUnit(t, filepath.Join(run.Dir, JUnitFile))
	if got := suites.TestSuites[0].Properties.WithName(PropertyInterrupted); got != "true" {
		t.Errorf("JUnit property %s = %q, want true", PropertyInterrupted, got)
	}
}

// An interrupted spec alone (a parallel process that was told to stop) is an interruption too.
func TestInterruptionFromASpec(t *testing.T) {
	rep := interruptedReport()
	rep.SpecialSuiteFailureReasons = nil
	if got := Interruption(&rep); got != "Interrupted by User" {
		t.Errorf("Interruption = %q, want the interrupted spec's message", got)
	}
}

// A run that ended on its own is not interrupted, failed or not.
func TestFinishNotInterrupted(t *testing.T) {
	run, res := finishedRun(t, failedSetupReport())
	if res.Header.Interrupted || res.Header.InterruptedBy != "" {
		t.Errorf("results.json header says interrupted (%q)", res.Header.InterruptedBy)
	}
	md, _ := os.ReadFile(filepath.Join(run.Dir, SummaryFile))
	if strings.Contains(string(md), "interrupted") {
		t.Errorf("summary.md of a finished run says interrupted:\n%s", md)
	}
	suites, _ := readJUnit(t, filepath.Join(run.Dir, JUnitFile))
	if got := suites.TestSuites[0].Properties.WithName(PropertyInterrupted); got != "false" {
		t.Errorf("JUnit property %s = %q, want false", PropertyInterrupted, got)
	}
}
