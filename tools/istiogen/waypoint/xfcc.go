package waypoint

import (
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"istio.io/istio/pkg/test"

	envoywaypoint "github.com/mtls-conformance/mtls-conformance/suites/framework/waypoint"
)

// servedPorts are Served's HTTP ports.
func (g *Generated) servedPorts() []int {
	svc, _ := g.Topology.Service(Served)
	var ports []int
	for _, p := range svc.Ports {
		ports = append(ports, p.Port)
	}
	return ports
}

// HTTPManagers returns, for every HTTP port of Served, the HTTP connection manager of its chain
// on main_internal, found the way the suite's engine finds it on a live waypoint
// (suites/framework/waypoint), so these tests check the engine's reading against Istio.
func (g *Generated) HTTPManagers() (map[int]*hcm.HttpConnectionManager, error) {
	return envoywaypoint.HTTPManagers(g.Listeners, Served, g.servedPorts())
}

// WritesXFCC reports whether Istio's waypoint, its Gateway annotated with annotations, makes the
// server see XFCC By=<waypoint>;URI=<client>, judged by the suite's engine
// (envoywaypoint.WritesXFCC, what the ambient barrier asks of a live waypoint) on the listeners
// Istio's own generator builds, not read off the annotation, so that how Istio reads the
// annotation decides.
func WritesXFCC(t test.Failer, annotations map[string]string) (bool, error) {
	g, err := Listeners(t, annotations)
	if err != nil {
		return false, err
	}
	return envoywaypoint.WritesXFCC(g.Listeners, Served, g.servedPorts())
}
