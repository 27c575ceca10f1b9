package scenarios

import (
	"fmt"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// WaypointName is the name of the Gateway (class istio-waypoint) a step's waypoint is, and so of
// its Deployment, Service and service account: the deployment controller names the service
// account after the Gateway, without a class suffix for istio-waypoint (istio/istio
// pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go TemplateInput.ServiceAccount,
// classinfo.go DisableNameSuffix, gateway_utils.go GetDefaultName; tools/istiogen/waypoint).
const WaypointName = "waypoint"

// XFCCClientIdentityAnnotation is the Gateway annotation that makes a waypoint write XFCC
// By=<waypoint>;URI=<client> (istio/istio pilot/pkg/networking/core/listener_waypoint.go
// xfccClientIdentityAnnotation, Istio >= 1.30; not in istio.io/api yet, istio/istio#54995).
const XFCCClientIdentityAnnotation = "ambient.istio.io/xfcc-include-client-identity"

// Waypoint is an ambient waypoint a step deploys in Namespace: Gateway "waypoint" of class
// istio-waypoint, with the namespace labelled istio.io/use-waypoint=waypoint, so that every
// Service of the namespace is reached through it. With XFCCClientIdentity the Gateway carries
// ambient.istio.io/xfcc-include-client-identity: "true" and the waypoint tells the server who the
// client is in XFCC; without it the waypoint strips XFCC (SANITIZE).
type Waypoint struct {
	Namespace          string `json:"namespace"`
	XFCCClientIdentity bool   `json:"xfccClientIdentity"`
}

// Identity is the waypoint's SPIFFE ID: its pod runs as service account "waypoint".
func (w Waypoint) Identity(trustDomain string) string {
	return fixtures.SPIFFEID(trustDomain, w.Namespace, WaypointName)
}

// Annotations are the Gateway's annotations.
func (w Waypoint) Annotations() map[string]string {
	if !w.XFCCClientIdentity {
		return nil
	}
	return map[string]string{XFCCClientIdentityAnnotation: "true"}
}

// parseWaypoints checks a step's waypoints: each in an ambient-enrolled fixture namespace (a
// Service outside the mesh has no ztunnel to send its clients to a waypoint), once per step.
func parseWaypoints(file, where string, ws []Waypoint, topo *fixtures.Topology) error {
	seen := map[string]bool{}
	for j, w := range ws {
		field := fmt.Sprintf("%s.waypoints[%d].namespace", where, j)
		ns, ok := topo.Namespace(w.Namespace)
		switch {
		case !ok:
			return fieldError(file, field, "%q is not a fixture namespace", w.Namespace)
		case !ns.Enrolled() && !ns.Injected():
			// The catalog is read on the documented topology, where the namespaces the ambient
			// data plane enrols (fixtures.Variant.Ambient) are the injected ones.
			return fieldError(file, field, "%q is not a namespace the ambient data plane enrols; only an enrolled namespace's Services are modelled behind a waypoint", w.Namespace)
		case seen[w.Namespace]:
			return fieldError(file, field, "%q has a waypoint already in this step", w.Namespace)
		}
		seen[w.Namespace] = true
	}
	return nil
}
