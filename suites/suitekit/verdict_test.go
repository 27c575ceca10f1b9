package suitekit_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
	"github.com/mtls-conformance/mtls-conformance/suites/suitekit"
)

// verdictHelperEnv makes TestProbeVerdictHelper run a real Ginkgo suite whose one spec judges an
// unconverged probe without an error, writing its record under the directory the variable names.
const verdictHelperEnv = "MTLS_SUITEKIT_VERDICT_HELPER_DIR"

// TestProbeVerdictHelper is not a test on its own: TestProbeVerdictWithoutError runs it in a
// child process, because a Ginkgo suite runs once per process and this one fails.
func TestProbeVerdictHelper(t *testing.T) {
	dir := os.Getenv(verdictHelperEnv)
	if dir == "" {
		t.Skip("helper process of TestProbeVerdictWithoutError")
	}
	// A World without a cluster: diagnostics fail to collect, which must not hide the failure.
	s := &suitekit.Suite{World: &world.World{}}
	sc := &scenarios.Scenario{Name: "namespace-strict", Steps: []scenarios.Step{{Name: "strict"}}}
	// Not converged, and no Err: what the probe engine never returns, but a caller may.
	sleep := fixtures.Ref{Name: "sleep", Namespace: "legacy"}
	target := probe.Target{Client: fixtures.Workload{Ref: sleep}, Host: "httpbin.foo", Port: 8000}
	r := &probe.Result{Probe: probe.Probe{Target: target}, Attempts: 2}
	record := func(rec report.ProbeRecord) error {
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "record.json"), data, 0o644)
	}
	ginkgo.It("judges the probe", func(ctx ginkgo.SpecContext) {
		s.ProbeVerdict(ctx, record, sc, 0, scenarios.Probe{From: sleep, To: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, Port: 8000}, r)
	})
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, "probe verdict")
}

// An unconverged probe whose Result carries no error fails its spec with "did not converge", and
// its record says the same, instead of panicking on the missing error.
func TestProbeVerdictWithoutError(t *testing.T) {
	if os.Getenv(verdictHelperEnv) != "" {
		t.Skip("inside the helper")
	}
	dir := t.TempDir()
	out := runHelper(t, "TestProbeVerdictHelper", verdictHelperEnv, dir)
	if strings.Contains(out, "[PANICKED]") || !strings.Contains(out, "[FAILED] did not converge\n") {
		t.Errorf("the spec does not fail with \"did not converge\":\n%s", out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "record.json"))
	if err != nil {
		t.Fatalf("no record: %v\n%s", err, out)
	}
	var rec report.ProbeRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != report.VerdictFail || rec.Message != "did not converge" || rec.Attempts != 2 {
		t.Errorf("record: verdict %q message %q attempts %d", rec.Verdict, rec.Message, rec.Attempts)
	}
}
