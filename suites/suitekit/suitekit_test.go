package suitekit_test

import (
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/suitekit"
)

// helperEnv makes TestGinkgoSuiteHelper run a real Ginkgo suite whose setup fails, writing its
// reports under the directory the variable names.
const helperEnv = "MTLS_REPORT_GINKGO_HELPER_DIR"

const nodeImage = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"

// TestGinkgoSuiteHelper is not a test on its own: TestInfrastructureFailureInRealGinkgoSuite
// runs it in a child process, because a Ginkgo suite runs once per process and this one fails.
// It wires the report package the way the suites do.
func TestGinkgoSuiteHelper(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process of TestInfrastructureFailureInRealGinkgoSuite")
	}
	var run *report.Run
	ginkgo.SynchronizedBeforeSuite(func() []byte {
		r, err := report.NewRun(dir)
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		run = r
		gomega.Expect(r.SetEnvironment(report.Environment{ClusterMode: "kind", NodeImage: nodeImage})).To(gomega.Succeed())
		suitekit.FailOnError(r.Step("create kind cluster", func() error {
			return errors.New("no container runtime: neither docker nor podman is on PATH")
		}))
		return []byte(r.Dir)
	}, func(runDir []byte) {
		r, err := report.OpenRun(string(runDir))
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		run = r
	})
	ginkgo.Describe("namespace-strict", ginkgo.Label("level:namespace"), func() {
		ginkgo.It("sleep.legacy → httpbin.foo:8000 is reset (exit 56)", func() {})
	})
	ginkgo.ReportAfterSuite("reports", func(rep types.Report) {
		gomega.Expect(run).NotTo(gomega.BeNil())
		gomega.Expect(run.Finish(&rep)).To(gomega.Succeed())
	})
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, "mTLS conformance")
}

// runHelper runs the helper test named in a child process of this test binary, with env naming
// dir, and returns its output; the helper's suite must fail.
func runHelper(t *testing.T, helper, env, dir string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1", "-ginkgo.no-color")
	cmd.Env = append(os.Environ(), env+"="+dir)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("the helper suite %s must fail, got %v:\n%s", helper, err, out)
	}
	return string(out)
}

// A real Ginkgo run whose setup fails leaves a JUnit file with a failed testcase naming the step,
// not a bare crash, plus results.json and summary.md saying the same.
func TestInfrastructureFailureInRealGinkgoSuite(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("inside the helper")
	}
	dir := t.TempDir()
	out := runHelper(t, "TestGinkgoSuiteHelper", helperEnv, dir)
	runDir, err := report.Latest(dir)
	if err != nil {
		t.Fatalf("no run folder: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(runDir, report.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var suites reporters.JUnitTestSuites
	if err := xml.Unmarshal(data, &suites); err != nil || len(suites.TestSuites) != 1 || !strings.HasPrefix(string(data), xml.Header) {
		t.Fatalf("junit does not parse or lacks the XML header (%v):\n%s", err, data)
	}
	suite := suites.TestSuites[0]
	// Ginkgo v2.34 does not report specs that never ran because the setup failed, and the failed
	// setup node is the infrastructure testcase: one failure, counted once.
	if len(suite.TestCases) != 1 || suites.Tests != 1 || suites.Failures != 1 || suite.Failures != 1 {
		t.Fatalf("want exactly the infrastructure testcase, failed once: tests=%d failures=%d %+v", suites.Tests, suites.Failures, suite.TestCases)
	}
	if infra := suite.TestCases[0]; infra.Name != "[Infrastructure] create kind cluster" || infra.Failure == nil ||
		infra.Failure.Message != "create kind cluster failed: no container runtime: neither docker nor podman is on PATH" {
		t.Fatalf("infrastructure testcase %+v", infra)
	}
	if suite.Properties.WithName("ClusterMode") != "kind" || suite.Properties.WithName("KindNodeImage") != nodeImage ||
		suite.Properties.WithName("RunID") != filepath.Base(runDir) {
		t.Fatalf("properties %+v", suite.Properties)
	}
	// The console says the error's own text, not Gomega's dump of its structs.
	if !strings.Contains(out, "[FAILED] create kind cluster: no container runtime: neither docker nor podman is on PATH\n") {
		t.Errorf("the setup failure is not the error's own line:\n%s", out)
	}
	for _, dump := range []string{"<*fmt.wrapError", "Expected success", "{msg:"} {
		if strings.Contains(out, dump) {
			t.Errorf("the setup failure prints Gomega's error dump (%q):\n%s", dump, out)
		}
	}
	res, err := report.ReadResults(filepath.Join(runDir, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Header.InfrastructureFailures) != 1 || res.Header.InfrastructureFailures[0].Step != "create kind cluster" {
		t.Fatalf("results header %+v", res.Header)
	}
	summary, err := os.ReadFile(filepath.Join(runDir, report.SummaryFile))
	if err != nil || !strings.Contains(string(summary), "- **create kind cluster** failed after") {
		t.Fatalf("summary.md: %v\n%s", err, summary)
	}
}
