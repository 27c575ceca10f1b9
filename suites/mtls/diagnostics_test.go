//go:build e2e

package mtls

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// collectDiagnostics keeps a failed probe's evidence, starting with its failure, next to the
// report; failing to collect it is reported but never hides the probe's own failure.
func collectDiagnostics(ctx SpecContext, e scenarios.ProbeOutcome, failure string) {
	dir, err := mesh.CollectDiagnostics(ctx, CurrentSpecReport().FullText(), failure, e.Probe)
	if err != nil {
		GinkgoWriter.Printf("diagnostics for %s: %v\n", e.Probe, err)
		return
	}
	AddReportEntry("diagnostics", dir)
}
