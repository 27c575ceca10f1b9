package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
)

// JUnit suite property names. Ginkgo's JUnit reporter writes a fixed set of suite properties
// from the Report and its SuiteConfig (ginkgo/v2 reporters/junit_report.go,
// GenerateJUnitReportWithConfig); AddReportEntry values become properties of the one testcase
// that added them, never of the suite. So GenerateJUnit lets Ginkgo write the file, then adds
// these to the suite's <properties>, in Ginkgo's CamelCase style.
const (
	PropertyRunID             = "RunID"
	PropertyIstioVersion      = "IstioVersion"
	PropertyKubernetesVersion = "KubernetesVersion"
	PropertyNodeImage         = "KindNodeImage"
	PropertyClusterMode       = "ClusterMode"
	PropertyTopology          = "Topology"
	// PropertyInterrupted is "true" when the run was stopped before its end (Header.Interrupted).
	PropertyInterrupted = "Interrupted"
)

// InfrastructureTestPrefix starts the name of every infrastructure testcase, so a JUnit viewer
// shows "[Infrastructure] install Istio 1.31.1 with Helm" as the failed test. cilium-cli does
// the same with one "infrastructure provisioning" testcase when its setup fails
// (cilium/cilium cilium-cli/connectivity/check/junit.go, RecordInfrastructureFailure, and its
// junit_test.go TestRecordInfrastructureFailureWriteReport).
const InfrastructureTestPrefix = "[Infrastructure] "

// DefaultSuiteName is the JUnit suite name WriteInfrastructureJUnit uses when none is given;
// the mtls suite's RunSpecs description should be the same, so both files group alike.
const DefaultSuiteName = "mTLS conformance"

// SuiteProperties are the environment as JUnit properties, always all of them (empty when
// unknown) so consumers can rely on their presence.
func SuiteProperties(h Header) []reporters.JUnitProperty {
	return []reporters.JUnitProperty{
		{Name: PropertyRunID, Value: h.RunID},
		{Name: PropertyIstioVersion, Value: h.IstioVersion},
		{Name: PropertyKubernetesVersion, Value: h.KubernetesVersion},
		{Name: PropertyNodeImage, Value: h.NodeImage},
		{Name: PropertyClusterMode, Value: h.ClusterMode},
		{Name: PropertyTopology, Value: h.Topology},
		{Name: PropertyInterrupted, Value: strconv.FormatBool(h.Interrupted)},
	}
}

// InfrastructureTestCase is a failed testcase naming the setup step that failed.
func InfrastructureTestCase(classname string, f InfraFailure) reporters.JUnitTestCase {
	first, _, _ := strings.Cut(f.Message, "\n")
	return reporters.JUnitTestCase{
		Name:      InfrastructureTestPrefix + f.Step,
		Classname: classname,
		Status:    types.SpecStateFailed.String(),
		Time:      (time.Duration(f.DurationMs) * time.Millisecond).Seconds(),
		Failure: &reporters.JUnitFailure{
			Message:     f.Step + " failed: " + first,
			Type:        "failed", // what Ginkgo writes for a failed spec
			Description: f.Message,
		},
	}
}

// GenerateJUnit writes Ginkgo's own JUnit report for rep to dst, then adds the run's suite
// properties and one failed testcase per infrastructure failure. A failed suite setup node whose
// failure is a recorded infrastructure step's error is that failure: it is reported once, as the
// "[Infrastructure] <step>" testcase, which takes over the node's captured output. Call it from
// ReportAfterSuite (Run.Finish does) instead of passing --junit-report for the same file, which
// the ginkgo CLI would write after ReportAfterSuite and so overwrite.
func GenerateJUnit(rep types.Report, dst string, h Header) error {
	rep, setupNodes := foldSetupFailures(rep, h.InfrastructureFailures)
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".junit-ginkgo-*.xml")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := reporters.GenerateJUnitReportWithConfig(rep, tmp.Name(), reporters.JunitReportConfig{}); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	data, err := os.ReadFile(tmp.Name())
	if err != nil {
		return err
	}
	var suites reporters.JUnitTestSuites
	if err := xml.Unmarshal(data, &suites); err != nil {
		return fmt.Errorf("junit: reading Ginkgo's report back: %w", err)
	}
	if len(suites.TestSuites) != 1 {
		return fmt.Errorf("junit: Ginkgo wrote %d test suites, want 1", len(suites.TestSuites))
	}
	suite := &suites.TestSuites[0]
	// Ginkgo copies failure messages and captured output verbatim; reports never hold
	// credentials.
	for i := range suite.TestCases {
		redactTestCase(&suite.TestCases[i])
	}
	suite.Properties.Properties = append(suite.Properties.Properties, SuiteProperties(h)...)
	for i, f := range h.InfrastructureFailures {
		tc := InfrastructureTestCase(suite.Name, f)
		if node, ok := setupNodes[i]; ok {
			tc.SystemOut = redact(node.CapturedStdOutErr)
			tc.SystemErr = redact(node.CapturedGinkgoWriterOutput)
		}
		suite.TestCases = append(suite.TestCases, tc)
		suite.Tests++
		suite.Failures++
		suites.Tests++
		suites.Failures++
	}
	return writeJUnit(dst, suites)
}

// foldSetupFailures takes out of rep each failed suite setup node (BeforeSuite,
// SynchronizedBeforeSuite) whose failure message carries a recorded infrastructure failure —
// Run.Step returns "<step>: <error>" and the suites fail with that text —, keyed by the index of
// that failure. A setup node that failed otherwise (interrupted, timed out, another error) stays.
func foldSetupFailures(rep types.Report, failures []InfraFailure) (types.Report, map[int]types.SpecReport) {
	folded := map[int]types.SpecReport{}
	kept := make(types.SpecReports, 0, len(rep.SpecReports))
	for _, spec := range rep.SpecReports {
		if spec.State == types.SpecStateFailed && spec.LeafNodeType.Is(types.NodeTypeBeforeSuite|types.NodeTypeSynchronizedBeforeSuite) {
			message := redact(spec.Failure.Message)
			i := slices.IndexFunc(failures, func(f InfraFailure) bool {
				first, _, _ := strings.Cut(f.Message, "\n")
				return strings.Contains(message, f.Step+": "+first)
			})
			if _, taken := folded[i]; i >= 0 && !taken {
				folded[i] = spec
				continue
			}
		}
		kept = append(kept, spec)
	}
	rep.SpecReports = kept
	return rep, folded
}

func redactTestCase(tc *reporters.JUnitTestCase) {
	tc.SystemOut = redact(tc.SystemOut)
	tc.SystemErr = redact(tc.SystemErr)
	if tc.Failure != nil {
		tc.Failure.Message = redact(tc.Failure.Message)
		tc.Failure.Description = redact(tc.Failure.Description)
	}
	if tc.Error != nil {
		tc.Error.Message = redact(tc.Error.Message)
		tc.Error.Description = redact(tc.Error.Description)
	}
	if tc.Skipped != nil {
		tc.Skipped.Message = redact(tc.Skipped.Message)
	}
}

// WriteInfrastructureJUnit writes a JUnit file holding one failed testcase, for when the suite
// cannot even start (no container runtime, an unusable kubeconfig): CI still gets a report
// naming what failed. It uses Ginkgo's JUnit types, so the schema is the one Ginkgo writes.
func WriteInfrastructureJUnit(dst, suiteName string, env Environment, f InfraFailure) error {
	if suiteName == "" {
		suiteName = DefaultSuiteName
	}
	if f.Time.IsZero() {
		f.Time = time.Now().UTC()
	}
	f.Message = redact(f.Message)
	tc := InfrastructureTestCase(suiteName, f)
	props := append([]reporters.JUnitProperty{{Name: "SuiteSucceeded", Value: "false"}},
		SuiteProperties(Header{Environment: env})...)
	suites := reporters.JUnitTestSuites{
		Tests:    1,
		Failures: 1,
		Time:     tc.Time,
		TestSuites: []reporters.JUnitTestSuite{{
			Name:       suiteName,
			Tests:      1,
			Failures:   1,
			Time:       tc.Time,
			Timestamp:  f.Time.Format("2006-01-02T15:04:05"), // Ginkgo's timestamp format
			Properties: reporters.JUnitProperties{Properties: props},
			TestCases:  []reporters.JUnitTestCase{tc},
		}},
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return writeJUnit(dst, suites)
}

// writeJUnit encodes the way Ginkgo does (xml.Header, two-space then four-space indent) and
// replaces dst atomically.
func writeJUnit(dst string, suites reporters.JUnitTestSuites) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("  ", "    ")
	if err := enc.Encode(suites); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	buf.WriteString("\n")
	return writeFileAtomic(dst, buf.Bytes())
}
