package world

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// runFixtures is the fixture variant a run with settings s deploys (INJECT, image overrides)
// and the topology derived from it: what the run deploys, predicts and probes.
func runFixtures(s settings.Settings) (fixtures.Variant, *fixtures.Topology, error) {
	variant, err := s.FixtureVariant()
	if err != nil {
		return variant, nil, err
	}
	topo, err := fixtures.LoadFor(variant)
	return variant, topo, err
}

// RunTopology is the topology a run with settings s deploys: the documented one, or the one
// INJECT chooses. The suites build their spec trees from it, as New does its world.
func RunTopology(s settings.Settings) (*fixtures.Topology, error) {
	_, topo, err := runFixtures(s)
	return topo, err
}

// documentedTopology reports whether s keeps the documented topology, the only one the
// catalog's hand-written expectations are exact for (fixtures.Variant.IsDocumented).
func documentedTopology(s settings.Settings) (bool, error) {
	variant, err := s.FixtureVariant()
	if err != nil {
		return false, err
	}
	return variant.IsDocumented(), nil
}

// CheckInstalledVersion fails a run on an Istio whose minor changes what a scenario step expects,
// compared with the version the specs were built for (Settings.IstioVersionOrDefault): judging Istio 1.30 by
// 1.32's outcomes would be silently wrong. Where no step's expectations differ between the two,
// any installed version passes.
func CheckInstalledVersion(s settings.Settings, installed string) error {
	built, err := s.IstioVersionOrDefault()
	if err != nil {
		return err
	}
	catalog, err := scenarios.CatalogWithDir(s.ScenariosDir)
	if err != nil {
		return err
	}
	for _, sc := range catalog {
		for i, st := range sc.Steps {
			if len(st.Versioned) == 0 {
				continue
			}
			want, err := st.ExpectFor(built)
			if err != nil {
				return err
			}
			got, err := st.ExpectFor(installed)
			if err != nil {
				return fmt.Errorf("%s step %d (%s) depends on the Istio minor, and the installed version %q is not one: %w", sc.Name, i+1, st.Name, installed, err)
			}
			if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("the cluster runs Istio %s, whose outcomes for %s step %d (%s) differ from %s's, which the specs were built for; rerun with ISTIO_VERSION=%s", installed, sc.Name, i+1, st.Name, built, installed)
			}
		}
	}
	return nil
}

// StepExpectations are the expected outcomes of step i of sc in the run, in the run's trust
// domain, for the run's Istio version (Settings.IstioVersionOrDefault); the suites name, record
// and probe what it returns. On the documented topology they are the catalog's (its
// cluster.local SPIFFE IDs rewritten here, the one place that happens). On another (INJECT) the
// catalog does not hold — it is exact for the documented topology only —,
// so they are the oracle's prediction for the step's state (Scenario.StateAt, the state the
// propagation barrier awaits) on the run's topology.
//
// A file written for another topology (its `inject:`, e.g. the test-only
// scenarios/testdata/failing, written for INJECT=none) is exact on that one instead.
func StepExpectations(s settings.Settings, sc *scenarios.Scenario, i int) ([]scenarios.ProbeOutcome, error) {
	if s.Ambient() {
		return ambientExpectations(s, sc, i)
	}
	if sc.SidecarSkip != "" {
		// Skipped on sidecars (DataplaneSkip), it has only ambient expectations; they name its
		// skipped specs.
		return scenarios.WithTrustDomain(sc.Ambient.Expect[i], s.TrustDomain), nil
	}
	variant, err := s.FixtureVariant()
	if err != nil {
		return nil, err
	}
	version, err := s.IstioVersionOrDefault()
	if err != nil {
		return nil, err
	}
	if sc.WrittenFor(variant) {
		expect, err := sc.Steps[i].ExpectFor(version)
		if err != nil {
			return nil, fmt.Errorf("%s step %d (%s) on Istio %s: %w", sc.Name, i+1, sc.Steps[i].Name, version, err)
		}
		return scenarios.WithTrustDomain(expect, s.TrustDomain), nil
	}
	topo, err := RunTopology(s)
	if err != nil {
		return nil, err
	}
	st := sc.StateAt(topo, i)
	expect, err := oracle.Predict(oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Injected, TrustDomain: s.TrustDomain, IstioVersion: version})
	if err != nil {
		return nil, fmt.Errorf("%s step %d (%s) with INJECT=%s: %w", sc.Name, i+1, sc.Steps[i].Name, s.Inject, err)
	}
	return expect, nil
}

// InjectionFixed is the rule for a scenario that relabels a namespace for injection when INJECT
// chooses the injected namespaces: INJECT says which namespaces may run sidecars (here, where no
// Envoy exists, none may), so a step that enables or removes injection would either break that
// or assert a change that cannot happen. Such a scenario is skipped, and the error is the reason;
// nil means it may run (the documented topology, or a scenario that changes no injection).
func InjectionFixed(s settings.Settings, sc *scenarios.Scenario) error {
	if !sc.ChangesInjection() {
		return nil
	}
	documented, err := documentedTopology(s)
	if err != nil {
		return err
	}
	if documented {
		return nil
	}
	return errors.New("changes injection; INJECT=" + s.Inject + " fixes the injected namespaces")
}

// TopologyText is what the report header says about the run's topology: documented (with the
// namespaces the fixtures inject, or with DATAPLANE=ambient enrol) or the INJECT value, whose
// expectations are the oracle's.
func TopologyText(s settings.Settings) string {
	documented, err := documentedTopology(s)
	if err != nil {
		return "INJECT=" + s.Inject + " (" + err.Error() + ")"
	}
	if !documented {
		return "INJECT=" + s.Inject + " — expectations from the oracle, not the catalog"
	}
	if s.Ambient() {
		// The only ambient topology a run has (settings reject INJECT there).
		topo, err := RunTopology(s)
		if err != nil {
			return "documented ambient"
		}
		return "documented ambient (" + strings.Join(topo.EnrolledNamespaces(), ", ") + " enrolled)"
	}
	topo, err := fixtures.Load()
	if err != nil {
		return "documented"
	}
	return "documented (" + strings.Join(topo.InjectedNamespaces(), ", ") + " injected)"
}
