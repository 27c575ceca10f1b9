package scenarios_test

import (
	"slices"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// TestCatalogMatchesOracle is the spec's self-check: every hand-written expectation of every
// step of every scenario equals what the oracle derives from Istio's rules, probe by probe — on
// sidecars for each pinned Istio minor, and in ambient against the oracle's ambient rules
// (themselves checked against Istio's conversion in tools/istiogen/ambient). A disagreement
// fails; nothing is overwritten. Every catalog scenario says what happens in ambient — each
// step's expectations, or why it is skipped there; a scenario skipped in ambient is one whose
// level is destinationrule: ztunnel never receives DestinationRules. One skipped on sidecars (a
// waypoint's) has no sidecar expectations to check, and must carry one.
func TestCatalogMatchesOracle(t *testing.T) {
	topo := catalogtest.Topology(t)
	catalog := catalogtest.Catalog(t)
	if len(catalog) < 16 {
		t.Fatalf("catalog has %d scenarios, want at least the 16 the spec lists", len(catalog))
	}
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	probes, ambientProbes, ambientSkipped, sidecarSkipped := 0, 0, 0, 0
	for _, s := range catalog {
		a := s.Ambient
		switch {
		case a == nil:
			t.Errorf("%s (%s): no ambient: block (each catalog scenario gives its ambient outcome or why it is skipped)", s.Name, s.File)
		case a.Skip != "":
			ambientSkipped++
			if s.Level != "destinationrule" {
				t.Errorf("%s: skipped in ambient (%q) but its level is %s", s.Name, a.Skip, s.Level)
			}
		}
		if s.SidecarSkip != "" {
			sidecarSkipped++
			if !slices.ContainsFunc(s.Steps, func(st scenarios.Step) bool { return len(st.Waypoints) > 0 }) {
				t.Errorf("%s: skipped on sidecars (%q) but no step has a waypoint", s.Name, s.SidecarSkip)
			}
		}
		for i, step := range s.Steps {
			st := s.StateAt(topo, i)
			in := oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Injected}
			// Each pinned minor: the step's expectations for it (since:/until:) against the
			// oracle's prediction for it.
			for _, istio := range pins.IstioVersions() {
				if s.SidecarSkip != "" {
					break
				}
				expect, err := step.ExpectFor(istio)
				if err != nil {
					t.Fatal(err)
				}
				sidecar := in
				sidecar.IstioVersion = istio
				got, err := oracle.Predict(sidecar)
				if err != nil {
					t.Errorf("%s step %q: oracle: %v", s.Name, step.Name, err)
					continue
				}
				if len(got) != len(expect) {
					t.Fatalf("%s step %q: oracle gave %d probes, catalog %d", s.Name, step.Name, len(got), len(expect))
				}
				for j, want := range expect {
					probes++
					if got[j].Probe != want.Probe {
						t.Fatalf("%s: probe order differs: %s vs %s", s.Name, got[j].Probe, want.Probe)
					}
					if got[j].Outcome.String() != want.Outcome.String() || got[j].MTLS != want.MTLS {
						t.Errorf("%s step %q on Istio %s: %s: catalog says %s, oracle says %s", s.Name, step.Name, istio, want.Probe, want.Outcome, got[j].Outcome)
					}
				}
			}
			if a == nil || a.Skip != "" {
				continue
			}
			in.Waypoints = st.Waypoints
			got, err := oracle.PredictAmbient(in)
			if err != nil {
				t.Fatalf("%s step %q: %v", s.Name, step.Name, err)
			}
			for j, want := range a.Expect[i] {
				ambientProbes++
				if got[j].Probe != want.Probe || got[j].Outcome.String() != want.Outcome.String() || got[j].MTLS != want.MTLS {
					t.Errorf("%s step %q: %s: catalog says %s (mTLS %t), ambient oracle %s (mTLS %t)", s.Name, step.Name, want.Probe, want.Outcome, want.MTLS, got[j].Outcome, got[j].MTLS)
				}
			}
		}
	}
	t.Logf("%d scenarios, %d probe expectations checked; %d skipped in ambient, %d ambient probe expectations checked; %d skipped on sidecars", len(catalog), probes, ambientSkipped, ambientProbes, sidecarSkipped)
}

// TestCatalogCitesSources: the loader already requires a source; this pins that every scenario
// also names where in the source (a seed section, or an Istio path).
func TestCatalogCitesSources(t *testing.T) {
	catalog := catalogtest.Catalog(t)
	for _, s := range catalog {
		for _, src := range s.Sources {
			if src.Seed != "" && src.Section == "" {
				t.Errorf("%s: seed %s cited without a section", s.Name, src.Seed)
			}
		}
	}
}
