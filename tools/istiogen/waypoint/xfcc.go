package waypoint

import (
	"fmt"
	"slices"

	mutation "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	headermutation "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/test"
	"istio.io/istio/pkg/wellknown"
)

// Written out here rather than taken from Istio (pilot/pkg/xds/filters/filters.go
// WaypointXFCCClientIdentityFilter), so that a change there shows as a failure.
const (
	xfccFilter = "istio.waypoint.xfcc_client_identity"
	xfccHeader = "x-forwarded-client-cert"
	xfccValue  = `By=%FILTER_STATE(io.istio.local_principal:PLAIN)%;URI=%FILTER_STATE(io.istio.peer_principal:PLAIN)%`
	// mainInternal is the waypoint's internal listener, where mTLS from ztunnel is already
	// terminated and the per-Service HTTP chains live (listener_waypoint.go buildWaypointInternal,
	// core.MainInternalName).
	mainInternal = "main_internal"
)

// xfccMutation is the XFCC filter's whole configuration: XFCC overwritten with
// By=<the waypoint's identity>;URI=<the client's identity ztunnel vouched for>.
var xfccMutation = &headermutation.HeaderMutation{
	Mutations: &headermutation.Mutations{
		RequestMutations: []*mutation.HeaderMutation{{
			Action: &mutation.HeaderMutation_Append{Append: &core.HeaderValueOption{
				Header:       &core.HeaderValue{Key: xfccHeader, Value: xfccValue},
				AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
		}},
	},
}

// HTTPManagers returns, for every HTTP port of Served, the HTTP connection manager of its chain
// on main_internal (named inbound-vip|<port>|http|<hostname>, listener_waypoint.go).
func (g *Generated) HTTPManagers() (map[int]*hcm.HttpConnectionManager, error) {
	i := slices.IndexFunc(g.Listeners, func(l *listener.Listener) bool { return l.GetName() == mainInternal })
	if i < 0 {
		return nil, fmt.Errorf("waypoint: no %s listener among %d", mainInternal, len(g.Listeners))
	}
	l := g.Listeners[i]
	svc, _ := g.Topology.Service(Served)
	hostname := host.Name(fmt.Sprintf("%s.%s.svc.cluster.local", Served.Name, Served.Namespace))
	out := map[int]*hcm.HttpConnectionManager{}
	for _, p := range svc.Ports {
		name := model.BuildSubsetKey(model.TrafficDirectionInboundVIP, "http", hostname, p.Port)
		j := slices.IndexFunc(l.GetFilterChains(), func(fc *listener.FilterChain) bool { return fc.GetName() == name })
		if j < 0 {
			var names []string
			for _, fc := range l.GetFilterChains() {
				names = append(names, fc.GetName())
			}
			return nil, fmt.Errorf("waypoint: no filter chain %s on %s; chains: %v", name, mainInternal, names)
		}
		var m *hcm.HttpConnectionManager
		for _, f := range l.GetFilterChains()[j].GetFilters() {
			if f.GetName() != wellknown.HTTPConnectionManager {
				continue
			}
			m = &hcm.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(m); err != nil {
				return nil, fmt.Errorf("waypoint: %s: %w", name, err)
			}
		}
		if m == nil {
			return nil, fmt.Errorf("waypoint: %s: no HTTP connection manager", name)
		}
		out[p.Port] = m
	}
	return out, nil
}

// WritesXFCC reports whether Istio's waypoint, its Gateway annotated with annotations, makes the
// server see XFCC By=<waypoint>;URI=<client>: every HTTP connection manager serving Served
// starts with the XFCC filter configured exactly so and forwards ALWAYS_FORWARD_ONLY (true), or
// none has the filter and each is SANITIZE, forwarding no XFCC (false). Anything else is an
// error: the outcome would be neither. Asked of Istio's own generator (Listeners), not read off
// the annotation, so that how Istio reads the annotation decides.
func WritesXFCC(t test.Failer, annotations map[string]string) (bool, error) {
	g, err := Listeners(t, annotations)
	if err != nil {
		return false, err
	}
	managers, err := g.HTTPManagers()
	if err != nil {
		return false, err
	}
	var writes []bool
	for port, m := range managers {
		names := filterNames(m)
		switch at := slices.Index(names, xfccFilter); {
		case at < 0 && m.GetForwardClientCertDetails() == hcm.HttpConnectionManager_SANITIZE:
			writes = append(writes, false)
		case at == 0 && m.GetForwardClientCertDetails() == hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY:
			got := &headermutation.HeaderMutation{}
			if err := m.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(got); err != nil {
				return false, fmt.Errorf("waypoint: port %d: %s config: %w", port, xfccFilter, err)
			}
			if !proto.Equal(got, xfccMutation) {
				return false, fmt.Errorf("waypoint: port %d: %s is not the By=<waypoint>;URI=<client> overwrite: %v", port, xfccFilter, got)
			}
			writes = append(writes, true)
		default:
			return false, fmt.Errorf("waypoint: port %d: filters %v, forward_client_cert_details %s: neither XFCC written nor stripped", port, names, m.GetForwardClientCertDetails())
		}
	}
	if len(writes) == 0 {
		return false, fmt.Errorf("waypoint: no HTTP connection manager for %s", Served)
	}
	if slices.Contains(writes, !writes[0]) {
		return false, fmt.Errorf("waypoint: some ports of %s get XFCC and some do not", Served)
	}
	return writes[0], nil
}

func filterNames(m *hcm.HttpConnectionManager) []string {
	var out []string
	for _, f := range m.GetHttpFilters() {
		out = append(out, f.GetName())
	}
	return out
}
