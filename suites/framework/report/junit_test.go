package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
)

func readJUnit(t *testing.T, path string) (reporters.JUnitTestSuites, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var suites reporters.JUnitTestSuites
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatalf("junit does not parse: %v\n%s", err, data)
	}
	if !strings.HasPrefix(string(data), xml.Header) {
		t.Fatal("junit lacks the XML header")
	}
	return suites, string(data)
}

func testCase(t *testing.T, suite reporters.JUnitTestSuite, name string) reporters.JUnitTestCase {
	t.Helper()
	for _, tc := range suite.TestCases {
		if tc.Name == name {
			return tc
		}
	}
	var names []string
	for _, tc := range suite.TestCases {
		names = append(names, tc.Name)
	}
	t.Fatalf("no testcase %q in %q", name, names)
	return reporters.JUnitTestCase{}
}

var testEnv = Environment{
	IstioVersion:      "1.31.1",
	KubernetesVersion: "v1.37.0",
	NodeImage:         "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
	ClusterMode:       "kind",
	Topology:          "INJECT=none — expectations from the oracle, not the catalog",
}

// A Ginkgo report with a failed setup node and a skipped spec (the real suite's skipped specs
// are those a label filter or a missing --allow-mesh-wide leaves out).
func failedSetupReport() types.Report {
	start := time.Date(2026, 11, 5, 10, 15, 0, 0, time.UTC)
	return types.Report{
		SuitePath:        "/work/main/suites/mtls",
		SuiteDescription: "mTLS conformance",
		SuiteSucceeded:   false,
		StartTime:        start,
		EndTime:          start.Add(95 * time.Second),
		RunTime:          95 * time.Second,
		SuiteConfig:      types.SuiteConfig{RandomSeed: 1234, LabelFilter: "level:namespace"},
		SpecReports: types.SpecReports{
			{
				LeafNodeType:               types.NodeTypeSynchronizedBeforeSuite,
				State:                      types.SpecStateFailed,
				RunTime:                    90 * time.Second,
				Failure:                    types.Failure{Message: "install Istio 1.31.1 with Helm: istiod not ready: context deadline exceeded"},
				CapturedGinkgoWriterOutput: "reports: /work/main/reports/20261105T101500Z-3f9a1c\nhelm install istiod (1.31.1)\n",
			},
			{
				ContainerHierarchyTexts:  []string{"namespace-strict"},
				ContainerHierarchyLabels: [][]string{{"level:namespace", "namespace-strict"}},
				LeafNodeType:             types.NodeTypeIt,
				LeafNodeText:             "sleep.legacy → httpbin.foo:8000 is reset (exit 56)",
				State:                    types.SpecStateSkipped,
				Failure:                  types.Failure{Message: "mesh-wide scenarios need --allow-mesh-wide on a cluster the suite did not create"},
			},
		},
	}
}

func TestGenerateJUnitAddsPropertiesAndInfrastructureTestcase(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "junit.xml")
	h := Header{RunID: "20261105T101500Z-3f9a1c", Environment: testEnv, InfrastructureFailures: []InfraFailure{{
		Step:       "install Istio 1.31.1 with Helm",
		Message:    "istiod not ready: context deadline exceeded\nlast status: 0/1 replicas available",
		DurationMs: 90000,
	}}}
	if err := GenerateJUnit(failedSetupReport(), dst, h); err != nil {
		t.Fatal(err)
	}
	suites, raw := readJUnit(t, dst)
	if len(suites.TestSuites) != 1 {
		t.Fatalf("%d suites", len(suites.TestSuites))
	}
	suite := suites.TestSuites[0]
	props := suite.Properties
	for name, want := range map[string]string{
		// Ours.
		"RunID":             "20261105T101500Z-3f9a1c",
		"IstioVersion":      "1.31.1",
		"KubernetesVersion": "v1.37.0",
		"KindNodeImage":     "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
		"ClusterMode":       "kind",
		"Topology":          "INJECT=none — expectations from the oracle, not the catalog",
		// Ginkgo's own, kept.
		"SuiteSucceeded": "false",
		"RandomSeed":     "1234",
		"LabelFilter":    "level:namespace",
	} {
		if got := props.WithName(name); got != want {
			t.Errorf("property %s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(raw, `<property name="IstioVersion" value="1.31.1"></property>`) {
		t.Error("IstioVersion is not a suite <property> element")
	}

	infra := testCase(t, suite, "[Infrastructure] install Istio 1.31.1 with Helm")
	if infra.Status != "failed" || infra.Classname != "mTLS conformance" || infra.Time != 90 {
		t.Errorf("infrastructure testcase %+v", infra)
	}
	if infra.Failure == nil || infra.Failure.Type != "failed" ||
		infra.Failure.Message != "install Istio 1.31.1 with Helm failed: istiod not ready: context deadline exceeded" ||
		infra.Failure.Description != "istiod not ready: context deadline exceeded\nlast status: 0/1 replicas available" {
		t.Errorf("infrastructure failure %+v", infra.Failure)
	}
	// The setup node failed with that step's error: one failure, counted once, under the step's
	// name; Ginkgo's captured output moves to it. The spec (labels in the name) stays skipped.
	for _, tc := range suite.TestCases {
		if tc.Name == "[SynchronizedBeforeSuite]" {
			t.Errorf("the setup node's failure is the infrastructure testcase's, reported twice: %+v", tc)
		}
	}
	if !strings.Contains(infra.SystemErr, "helm install istiod") {
		t.Errorf("infrastructure testcase lost the setup node's output: %q", infra.SystemErr)
	}
	spec := testCase(t, suite, "[It] namespace-strict sleep.legacy → httpbin.foo:8000 is reset (exit 56) [level:namespace, namespace-strict]")
	if spec.Skipped == nil {
		t.Errorf("spec testcase %+v, want skipped", spec)
	}
	if suite.Tests != 2 || suite.Failures != 1 || suite.Skipped != 1 || suites.Tests != 2 || suites.Failures != 1 || suites.Disabled != 1 {
		t.Errorf("counts: suite tests=%d failures=%d skipped=%d; top tests=%d failures=%d disabled=%d",
			suite.Tests, suite.Failures, suite.Skipped, suites.Tests, suites.Failures, suites.Disabled)
	}
}

// A setup node that failed for a reason no step recorded (here Ginkgo's interrupt) keeps its
// own testcase beside the infrastructure one.
func TestGenerateJUnitKeepsAnUnrelatedSetupFailure(t *testing.T) {
	rep := failedSetupReport()
	rep.SpecReports[0].State = types.SpecStateInterrupted
	rep.SpecReports[0].Failure = types.Failure{Message: "Interrupted by User"}
	dst := filepath.Join(t.TempDir(), "junit.xml")
	h := Header{RunID: "r", Environment: testEnv, InfrastructureFailures: []InfraFailure{{Step: "istio", Message: "context canceled"}}}
	if err := GenerateJUnit(rep, dst, h); err != nil {
		t.Fatal(err)
	}
	suites, _ := readJUnit(t, dst)
	suite := suites.TestSuites[0]
	testCase(t, suite, "[SynchronizedBeforeSuite]")
	testCase(t, suite, "[Infrastructure] istio")
	if suite.Tests != 3 || suite.Failures != 1 || suite.Errors != 1 || suites.Tests != 3 || suites.Failures != 1 || suites.Errors != 1 {
		t.Errorf("counts: suite tests=%d failures=%d errors=%d; top tests=%d failures=%d errors=%d",
			suite.Tests, suite.Failures, suite.Errors, suites.Tests, suites.Failures, suites.Errors)
	}
}

func TestGenerateJUnitWithoutFailuresAddsOnlyProperties(t *testing.T) {
	rep := failedSetupReport()
	rep.SpecReports = rep.SpecReports[1:]
	rep.SpecReports[0].State = types.SpecStatePassed
	dst := filepath.Join(t.TempDir(), "junit.xml")
	if err := GenerateJUnit(rep, dst, Header{Environment: Environment{ClusterMode: "existing"}}); err != nil {
		t.Fatal(err)
	}
	suites, _ := readJUnit(t, dst)
	suite := suites.TestSuites[0]
	if len(suite.TestCases) != 1 || suite.Failures != 0 || suite.Tests != 1 {
		t.Fatalf("testcases %+v", suite.TestCases)
	}
	if suite.Properties.WithName("ClusterMode") != "existing" {
		t.Error("ClusterMode property missing")
	}
	// Unknown values are still present, empty, so consumers can rely on the names.
	found := false
	for _, p := range suite.Properties.Properties {
		if p.Name == "KindNodeImage" && p.Value == "" {
			found = true
		}
	}
	if !found {
		t.Error("an unknown KindNodeImage must be written as an empty property")
	}
}

func TestWriteInfrastructureJUnit(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "reports", "junit.xml") // parent created
	err := WriteInfrastructureJUnit(dst, "", Environment{ClusterMode: "kind", IstioVersion: "1.31.1"}, InfraFailure{
		Step:    "find a container runtime",
		Message: "CLUSTER=kind needs Docker or Podman: neither docker nor podman is on PATH (or set CLUSTER=existing)",
	})
	if err != nil {
		t.Fatal(err)
	}
	suites, _ := readJUnit(t, dst)
	if suites.Tests != 1 || suites.Failures != 1 || len(suites.TestSuites) != 1 {
		t.Fatalf("top level %+v", suites)
	}
	suite := suites.TestSuites[0]
	if suite.Name != "mTLS conformance" || suite.Tests != 1 || suite.Failures != 1 || suite.Timestamp == "" {
		t.Fatalf("suite %+v", suite)
	}
	if suite.Properties.WithName("SuiteSucceeded") != "false" || suite.Properties.WithName("ClusterMode") != "kind" || suite.Properties.WithName("IstioVersion") != "1.31.1" {
		t.Errorf("properties %+v", suite.Properties)
	}
	tc := testCase(t, suite, "[Infrastructure] find a container runtime")
	if tc.Classname != "mTLS conformance" || tc.Status != "failed" || tc.Failure == nil ||
		tc.Failure.Message != "find a container runtime failed: CLUSTER=kind needs Docker or Podman: neither docker nor podman is on PATH (or set CLUSTER=existing)" {
		t.Fatalf("testcase %+v", tc)
	}
}

func TestFinishWritesJUnit(t *testing.T) {
	run, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := run.SetEnvironment(testEnv); err != nil {
		t.Fatal(err)
	}
	rep := failedSetupReport()
	if err := run.Finish(&rep); err != nil {
		t.Fatal(err)
	}
	suites, _ := readJUnit(t, filepath.Join(run.Dir, JUnitFile))
	if got := suites.TestSuites[0].Properties.WithName("RunID"); got != run.ID {
		t.Fatalf("RunID property %q, want %q", got, run.ID)
	}
}
