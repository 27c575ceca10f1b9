package settings

import (
	"errors"
	"fmt"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// Data planes a run can use (DATAPLANE, --dataplane; predict's --dataplane reads the same).
const (
	// DataplaneSidecar: istiod injects an Envoy sidecar into pods of istio-injection=enabled
	// namespaces (the documented foo and bar); expectations are the catalog's sidecar ones.
	DataplaneSidecar = "sidecar"
	// DataplaneAmbient: the istio-cni and ztunnel charts are installed, foo and bar are labelled
	// istio.io/dataplane-mode=ambient instead of istio-injection; expectations are each
	// scenario's ambient: block (scenarios/ambient.go).
	DataplaneAmbient = "ambient"
)

// Dataplanes lists them, the default first.
var Dataplanes = []string{DataplaneSidecar, DataplaneAmbient}

// ParseDataplane checks a data plane name; "" is the default, sidecar.
func ParseDataplane(v string) (string, error) {
	switch v {
	case "", DataplaneSidecar:
		return DataplaneSidecar, nil
	case DataplaneAmbient:
		return DataplaneAmbient, nil
	}
	return "", fmt.Errorf("dataplane %q: want sidecar or ambient", v)
}

// Ambient reports whether the run uses the ambient data plane.
func (s *Settings) Ambient() bool { return s.Dataplane == DataplaneAmbient }

// validateDataplane checks the data plane's name. INJECT with ambient is FixtureVariant's error
// (ambientFixtures), reported once.
func (s *Settings) validateDataplane() []string {
	dp, err := ParseDataplane(s.Dataplane)
	if err != nil {
		return []string{err.Error()}
	}
	s.Dataplane = dp
	if dp == DataplaneAmbient && s.LoadImages {
		// LOAD_IMAGES loads istiod's and the sidecar's images (istio.Installer.Images); the
		// ztunnel and install-cni images an ambient run needs are not modelled there.
		return []string{"load-images loads the sidecar data plane's images, not ztunnel's or istio-cni's; with dataplane ambient let the kind nodes pull them (leave LOAD_IMAGES unset)"}
	}
	return nil
}

// ambientFixtures makes v the ambient fixtures when the run is ambient: foo and bar enrolled,
// nothing injected (fixtures.Variant.Ambient). INJECT is rejected there rather than read as the
// enrolled set: it chooses sidecar namespaces, which ambient has none of (mixing a sidecar into
// an ambient mesh is interop the oracle does not model), and the catalog's ambient: blocks are
// exact for foo and bar enrolled only.
func (s *Settings) ambientFixtures(v *fixtures.Variant) error {
	if !s.Ambient() {
		return nil
	}
	if s.Inject != "" {
		return errors.New("inject chooses sidecar namespaces; with dataplane ambient foo and bar are enrolled and no pod has a sidecar (leave INJECT unset)")
	}
	v.Ambient = true
	return nil
}

// ambientWireSkip is why the wire specs do not run in ambient: they capture the client → server
// flow on the server's workload port and judge it by the sidecar wire oracle (oracle.PredictWire),
// while ztunnel carries enrolled traffic as HBONE to port 15008 (it is the capture's filter,
// wire.Filter, that would see nothing), and the oracle models no ambient wire.
func (s *Settings) ambientWireSkip() error {
	if !s.Ambient() {
		return nil
	}
	return errors.New("ambient: the wire specs capture a sidecar's traffic on the workload port; ztunnel carries enrolled traffic as HBONE to port 15008, which neither the capture nor the wire oracle models")
}
