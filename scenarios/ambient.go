package scenarios

import (
	"fmt"
	"slices"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// Ambient is a scenario's outcome on the ambient data plane (DATAPLANE=ambient: foo and bar
// enrolled with istio.io/dataplane-mode=ambient, legacy and utilities not, no sidecars): either
// every step's expectations, or why the scenario means nothing there (Skip).
type Ambient struct {
	// Skip says why the scenario is skipped in ambient; the suite skips it with these words.
	Skip    string
	Sources []Source
	Notes   string
	// Expect holds one expectation list per step, in step order, in matrix order.
	Expect [][]ProbeOutcome
}

// ambientFile is a scenario file's `ambient:` block; see catalog/README.md.
type ambientFile struct {
	Skip    string            `json:"skip"`
	Sources []Source          `json:"sources"`
	Notes   string            `json:"notes"`
	Steps   []ambientStepFile `json:"steps"`
}

type ambientStepFile struct {
	Step   string       `json:"step"`
	Expect []expectFile `json:"expect"`
}

// AmbientClasses are the outcomes ambient has: no sidecar answers 503 and no XFCC is written
// at L4, so mtls and 503 cannot occur (oracle/ambient.go).
var AmbientClasses = []Class{ClassHBONE, ClassPlaintext, ClassReset, ClassWaypoint}

// parseAmbient reads the `ambient:` block (nil when the file has none) and checks that the
// sidecar expectations do not use the ambient-only class.
func parseAmbient(file string, f *ambientFile, s *Scenario, topo *fixtures.Topology) error {
	for i, step := range s.Steps {
		for _, e := range step.Expect {
			if c := e.Class(); c == ClassHBONE || c == ClassWaypoint {
				return fieldError(file, fmt.Sprintf("steps[%d].expect", i), "%s: %q is an ambient outcome (write it under ambient:)", e.Probe, c)
			}
		}
	}
	if f == nil {
		if s.SidecarSkip != "" {
			return fieldError(file, "ambient", "required: the scenario is skipped on the sidecar data plane, so its outcomes are ambient's")
		}
		return nil
	}
	a := &Ambient{Skip: f.Skip, Sources: f.Sources, Notes: f.Notes}
	switch {
	case len(f.Sources) == 0:
		return fieldError(file, "ambient.sources", "the ambient outcome (or its skip reason) cites at least one source")
	case f.Skip != "" && s.SidecarSkip != "":
		return fieldError(file, "ambient.skip", "the scenario is skipped on the sidecar data plane too: it would never run")
	case f.Skip != "" && len(f.Steps) > 0:
		return fieldError(file, "ambient", "set skip or steps, not both")
	case f.Skip == "" && len(f.Steps) != len(s.Steps):
		return fieldError(file, "ambient.steps", "%d steps, the scenario has %d (one per step, in order; or skip: with the reason)", len(f.Steps), len(s.Steps))
	}
	for i, src := range f.Sources {
		if (src.Seed == "") == (src.Istio == "") {
			return fieldError(file, fmt.Sprintf("ambient.sources[%d]", i), "set exactly one of seed or istio")
		}
	}
	matrix := Matrix(topo)
	for i, sf := range f.Steps {
		where := fmt.Sprintf("ambient.steps[%d]", i)
		if sf.Step != s.Steps[i].Name {
			return fieldError(file, where+".step", "%q, want the scenario's step %d %q", sf.Step, i+1, s.Steps[i].Name)
		}
		expect, err := expandExpect(file, where, sf.Expect, topo, matrix, s.StateAt(topo, i).Waypoints)
		if err != nil {
			return err
		}
		for _, e := range expect {
			if !slices.Contains(AmbientClasses, e.Class()) {
				return fieldError(file, where+".expect", "%s: %q cannot happen in ambient (want one of %v)", e.Probe, e.Class(), AmbientClasses)
			}
		}
		a.Expect = append(a.Expect, expect)
	}
	s.Ambient = a
	return nil
}
