package world

import (
	"errors"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// DataplaneLabel is the Ginkgo label every scenario spec carries: dataplane:sidecar or
// dataplane:ambient (LABEL_FILTER=dataplane:ambient).
func DataplaneLabel(s settings.Settings) string { return "dataplane:" + s.Dataplane }

// AmbientSkip is why a scenario does not run on this run's data plane: nil unless DATAPLANE is
// ambient; then the scenario's own ambient: skip reason, or that it gives no ambient outcome.
func AmbientSkip(s settings.Settings, sc *scenarios.Scenario) error {
	if !s.Ambient() {
		return nil
	}
	switch {
	case sc.Ambient == nil:
		return errors.New("ambient: the scenario file gives no ambient outcome (no ambient: block)")
	case sc.Ambient.Skip != "":
		return errors.New("ambient: " + sc.Ambient.Skip)
	case sc.ChangesInjection():
		// The catalog says what enrolling a namespace does (utilities-injection's ambient steps,
		// checked by the oracle and Istio's code); the deploy engine still relabels for sidecar
		// injection and restarts, so on a cluster the scenario does not run in ambient yet.
		return errors.New("ambient: enrolling a namespace (istio.io/dataplane-mode=ambient, no restart) during a run is not implemented by the deploy engine yet")
	}
	return nil
}

// ambientExpectations are step i's expectations on the ambient data plane: the scenario's
// ambient: block; for a scenario skipped in ambient, the oracle's ambient prediction, which only
// names its specs (they are skipped with AmbientSkip's reason).
func ambientExpectations(s settings.Settings, sc *scenarios.Scenario, i int) ([]scenarios.ProbeOutcome, error) {
	if AmbientSkip(s, sc) == nil {
		return scenarios.WithTrustDomain(sc.Ambient.Expect[i], s.TrustDomain), nil
	}
	topo, err := RunTopology(s)
	if err != nil {
		return nil, err
	}
	st := sc.StateAt(topo, i)
	return oracle.PredictAmbient(oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Injected, TrustDomain: s.TrustDomain})
}
