package settings

import "fmt"

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

// validateDataplane: INJECT chooses sidecar namespaces, which ambient has none of (mixing a
// sidecar into an ambient mesh is interop the oracle does not model).
func (s *Settings) validateDataplane() []string {
	dp, err := ParseDataplane(s.Dataplane)
	if err != nil {
		return []string{err.Error()}
	}
	s.Dataplane = dp
	if dp == DataplaneAmbient && s.Inject != "" {
		return []string{"inject chooses sidecar namespaces; with dataplane ambient foo and bar are enrolled and no pod has a sidecar (leave INJECT unset)"}
	}
	return nil
}
