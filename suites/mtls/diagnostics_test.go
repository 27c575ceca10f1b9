//go:build e2e

package mtls

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// collectDiagnostics keeps a failed probe's evidence next to the report; failing to collect it
// is reported but never hides the probe's own failure.
func collectDiagnostics(ctx SpecContext, s *scenarios.Scenario, e scenarios.ProbeOutcome) {
	dir, err := mesh.CollectDiagnostics(ctx, CurrentSpecReport().FullText(), "", e.Probe)
	if err != nil {
		GinkgoWriter.Printf("diagnostics for %s: %v\n", e.Probe, err)
		return
	}
	AddReportEntry("diagnostics", dir)
}
