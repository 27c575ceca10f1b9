package world

import (
	"time"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// Skipped is the record of a probe that did not run, with the reason (a failed step, a mesh-wide
// scenario on a cluster the suite did not create). Probes that ran are recorded with
// report.FromProbeResult.
func Skipped(s *scenarios.Scenario, stepIndex int, expected scenarios.ProbeOutcome, reason string) report.ProbeRecord {
	return report.ProbeRecord{
		Scenario: s.Name, Step: s.Steps[stepIndex].Name, StepIndex: stepIndex,
		From: expected.From, To: expected.To, Port: expected.Port, Expected: expected.Outcome,
		Verdict: report.VerdictSkipped, Message: reason, Time: time.Now().UTC(),
	}
}
