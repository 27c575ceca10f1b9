//go:build e2e

package mtls

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
)

var _ = Describe("mTLS conformance", func() {
	for _, s := range catalog() {
		describeScenario(s)
	}
})

// describeScenario: apply each step, converge, assert each probe, then remove everything and
// converge back to the baseline so that no scenario leaks into the next.
func describeScenario(s *scenarios.Scenario) {
	Describe(fmt.Sprintf("%s [%s]", s.Title, s.Name), Ordered, Serial, Label(s.Labels()...), func() {
		skipped := false
		BeforeAll(func() {
			if !s.MeshWide() {
				return
			}
			if err := mesh.MeshWideAllowed(); err != nil {
				skipped = true
				for i, step := range s.Steps {
					for _, e := range step.Expect {
						Expect(run.Record(world.Skipped(s, i, e, err.Error()))).To(Succeed())
					}
				}
				Skip(err.Error())
			}
		})
		AfterAll(func(ctx SpecContext) {
			if skipped || mesh == nil {
				return
			}
			Expect(mesh.ResetScenario(ctx, s)).To(Succeed(), "removing what %s applied", s.Name)
			baseline, err := mesh.Baseline()
			Expect(err).NotTo(HaveOccurred())
			results, err := mesh.Probe(ctx, baseline)
			Expect(err).NotTo(HaveOccurred())
			for _, e := range baseline {
				r := results[e.Probe]
				Expect(r.Converged).To(BeTrue(), "after %s the mesh must be back to the baseline: %v", s.Name, r.Err)
			}
		})
		for i := range s.Steps {
			describeStep(s, i)
		}
	})
}

func describeStep(s *scenarios.Scenario, i int) {
	step := s.Steps[i]
	expect := scenarios.WithTrustDomain(step.Expect, cfg.TrustDomain)
	Context(fmt.Sprintf("step %d/%d: %s", i+1, len(s.Steps), step.Name), func() {
		var results map[scenarios.Probe]*probe.Result
		It("applies its objects and converges", func(ctx SpecContext) {
			err := mesh.ApplyStep(ctx, s, i)
			if err == nil {
				results, err = mesh.Probe(ctx, expect)
			}
			if err != nil {
				for _, e := range expect {
					Expect(run.Record(world.Skipped(s, i, e, "step failed: "+err.Error()))).To(Succeed())
				}
			}
			Expect(err).NotTo(HaveOccurred())
		})
		for _, e := range expect {
			It(e.SpecName(), func(ctx SpecContext) {
				r := results[e.Probe]
				rec := report.FromProbeResult(s.Name, step.Name, i, r)
				Expect(run.Record(rec)).To(Succeed())
				AddReportEntry("attempts", rec.Attempts)
				AddReportEntry("convergeMs", rec.ConvergeMs)
				if !r.Converged {
					collectDiagnostics(ctx, s, e)
					Fail(r.Err.Error())
				}
			})
		}
		describeListeners(s, i, &results)
	})
}
