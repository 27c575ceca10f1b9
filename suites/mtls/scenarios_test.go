//go:build e2e

package mtls

import (
	"errors"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
	"github.com/mtls-conformance/mtls-conformance/suites/suitekit"
)

var _ = Describe("mTLS conformance", func() {
	for _, s := range suite.Catalog() {
		describeScenario(s)
	}
})

// describeScenario: apply each step, wait until it is in force on every sidecar, converge and
// assert each probe, then remove everything and converge back to the baseline so that no scenario
// leaks into the next. ContinueOnFailure: one failed probe must not hide the verdicts of the
// others.
func describeScenario(s *scenarios.Scenario) {
	labels := append(s.Labels(), world.DataplaneLabel(suite.Settings))
	Describe(fmt.Sprintf("%s [%s]", s.Title, s.Name), Ordered, ContinueOnFailure, Serial, Label(labels...), func() {
		skipped := false
		BeforeAll(func() {
			// A scenario that relabels namespaces for injection cannot run where INJECT fixes
			// them; a mesh-wide one only on a cluster the run created or with --allow-mesh-wide.
			// In ambient, a scenario without an ambient outcome (DestinationRule TLS) is skipped
			// with its file's reason.
			err := world.DataplaneSkip(suite.Settings, s)
			if err == nil {
				err = world.InjectionFixed(suite.Settings, s)
			}
			if err == nil && s.MeshWide() {
				err = suite.World.MeshWideAllowed()
			}
			if err != nil {
				skipped = true
				for i := range s.Steps {
					suitekit.RecordSkipped(suite.Run.Record, s, i, suite.StepExpectations(s, i), err.Error())
				}
				Skip(err.Error())
			}
		})
		AfterAll(func(ctx SpecContext) {
			if skipped {
				return
			}
			Expect(suite.World.ResetScenario(ctx, s)).To(Succeed(), "removing what %s applied", s.Name)
			baseline, err := suite.World.Baseline()
			Expect(err).NotTo(HaveOccurred())
			results, err := suite.World.Probe(ctx, baseline)
			Expect(err).NotTo(HaveOccurred())
			for _, e := range baseline {
				r := results[e.Probe]
				Expect(r.Converged).To(BeTrue(), "after %s the mesh must be back to the baseline: %v", s.Name, r.Err)
			}
		}, NodeTimeout(suitekit.TeardownTimeout))
		// applied is the last step put in force. A label filter can leave out a whole step's specs;
		// the next step that runs then applies the skipped steps first, in order.
		applied := -1
		for i := range s.Steps {
			describeStep(s, i, &applied)
		}
	})
}

// describeStep: the step is applied, awaited on every sidecar (world.ApplyStep's propagation
// barrier) and its whole matrix converged once, in a BeforeAll, before whichever of its specs the
// label filter selected (probes, listeners or both).
func describeStep(s *scenarios.Scenario, i int, applied *int) {
	step := s.Steps[i]
	expect := suite.StepExpectations(s, i)
	Context(fmt.Sprintf("step %d/%d: %s", i+1, len(s.Steps), step.Name), func() {
		var results map[scenarios.Probe]*probe.Result
		// notInForce: the step's changes were made but never reached every sidecar, so its probes
		// are not run (they would assert a state the mesh is not in).
		var notInForce *authcheck.PropagationError
		BeforeAll(func(ctx SpecContext) {
			var err error
			for j := *applied + 1; j <= i && err == nil; j++ {
				err = suite.World.ApplyStep(ctx, s, j)
				var pe *authcheck.PropagationError
				if errors.As(err, &pe) {
					// Made, not in force (its propagation record says why). A step the label
					// filter left out need not be in force, only the one probed here.
					if j == i {
						notInForce = pe
					}
					err = nil
				}
				if err == nil {
					*applied = j
				}
			}
			if err == nil && notInForce == nil {
				results, err = suite.World.Probe(ctx, expect)
			}
			if err != nil {
				suitekit.RecordSkipped(suite.Run.Record, s, i, expect, "step failed: "+err.Error())
			}
			Expect(err).NotTo(HaveOccurred(), "applying step %d and probing its matrix", i+1)
		})
		for _, e := range expect {
			It(e.SpecName(), func(ctx SpecContext) {
				if notInForce != nil {
					suite.FailProbe(ctx, suite.Run.Record, e.Probe, report.NotInForce(s, i, e, notInForce))
				}
				if results == nil {
					Skip("the step was not applied (see its BeforeAll)")
				}
				suite.ProbeVerdict(ctx, suite.Run.Record, s, i, e.Probe, results[e.Probe])
			})
		}
		describeListeners(s, i, expect, &results)
	})
}
