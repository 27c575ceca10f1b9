// Package waypoint reads an ambient waypoint's Envoy configuration: whether it makes the server
// see XFCC By=<waypoint>;URI=<client>. The ambient barrier asks it of the waypoint pod's config
// dump before a step's probes run; tools/istiogen/waypoint asks it of the listeners Istio's own
// generator builds for the annotated and the plain Gateway, so the engine's reading is checked
// against Istio.
package waypoint

import (
	"fmt"
	"slices"
	"strconv"

	mutation "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	headermutation "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// Written out here rather than taken from Istio, so that a change there shows as a failure of
// tools/istiogen/waypoint (istio/istio pilot/pkg/xds/filters/filters.go
// WaypointXFCCClientIdentityFilter; pilot/pkg/networking/core/listener_waypoint.go).
const (
	// XFCCFilter is the name of the header_mutation filter that writes the XFCC.
	XFCCFilter = "istio.waypoint.xfcc_client_identity"
	xfccHeader = "x-forwarded-client-cert"
	xfccValue  = `By=%FILTER_STATE(io.istio.local_principal:PLAIN)%;URI=%FILTER_STATE(io.istio.peer_principal:PLAIN)%`
	// MainInternal is the waypoint's internal listener, where mTLS from ztunnel is already
	// terminated and the per-Service HTTP chains live (listener_waypoint.go buildWaypointInternal,
	// core.MainInternalName).
	MainInternal = "main_internal"
	// HTTPConnectionManagerFilter is Envoy's HTTP connection manager (istio/istio pkg/wellknown
	// HTTPConnectionManager).
	HTTPConnectionManagerFilter = "envoy.filters.network.http_connection_manager"
)

// XFCCMutation is the XFCC filter's whole configuration: XFCC overwritten with
// By=<the waypoint's identity>;URI=<the client's identity ztunnel vouched for>.
func XFCCMutation() *headermutation.HeaderMutation {
	return proto.Clone(xfccMutation).(*headermutation.HeaderMutation)
}

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

// ChainName is the name of the filter chain on main_internal that serves a Service's HTTP
// port: model.BuildSubsetKey(TrafficDirectionInboundVIP, "http", hostname, port)
// (listener_waypoint.go buildWaypointInternal; pilot/pkg/model/service.go).
func ChainName(svc fixtures.Ref, port int) string {
	return "inbound-vip|" + strconv.Itoa(port) + "|http|" + fixtures.Hostname(svc)
}

// HTTPManagers returns, for each of ports of svc, the HTTP connection manager of its chain on
// main_internal.
func HTTPManagers(listeners []*listener.Listener, svc fixtures.Ref, ports []int) (map[int]*hcm.HttpConnectionManager, error) {
	i := slices.IndexFunc(listeners, func(l *listener.Listener) bool { return l.GetName() == MainInternal })
	if i < 0 {
		return nil, fmt.Errorf("waypoint: no %s listener among %d", MainInternal, len(listeners))
	}
	l := listeners[i]
	out := map[int]*hcm.HttpConnectionManager{}
	for _, port := range ports {
		name := ChainName(svc, port)
		j := slices.IndexFunc(l.GetFilterChains(), func(fc *listener.FilterChain) bool { return fc.GetName() == name })
		if j < 0 {
			var names []string
			for _, fc := range l.GetFilterChains() {
				names = append(names, fc.GetName())
			}
			return nil, fmt.Errorf("waypoint: no filter chain %s on %s; chains: %v", name, MainInternal, names)
		}
		var m *hcm.HttpConnectionManager
		for _, f := range l.GetFilterChains()[j].GetFilters() {
			if f.GetName() != HTTPConnectionManagerFilter {
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
		out[port] = m
	}
	return out, nil
}

// WritesXFCC reports whether a waypoint with these listeners makes svc see XFCC
// By=<waypoint>;URI=<client> on ports: every HTTP connection manager serving them starts with
// the XFCC filter configured exactly so and forwards ALWAYS_FORWARD_ONLY (true), or none has
// the filter and each is SANITIZE, forwarding no XFCC (false). Anything else is an error: the
// outcome would be neither.
func WritesXFCC(listeners []*listener.Listener, svc fixtures.Ref, ports []int) (bool, error) {
	managers, err := HTTPManagers(listeners, svc, ports)
	if err != nil {
		return false, err
	}
	var writes []bool
	for _, port := range ports {
		m := managers[port]
		names := FilterNames(m)
		switch at := slices.Index(names, XFCCFilter); {
		case at < 0 && m.GetForwardClientCertDetails() == hcm.HttpConnectionManager_SANITIZE:
			writes = append(writes, false)
		case at == 0 && m.GetForwardClientCertDetails() == hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY:
			got := &headermutation.HeaderMutation{}
			if err := m.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(got); err != nil {
				return false, fmt.Errorf("waypoint: port %d: %s config: %w", port, XFCCFilter, err)
			}
			if !proto.Equal(got, xfccMutation) {
				return false, fmt.Errorf("waypoint: port %d: %s is not the By=<waypoint>;URI=<client> overwrite: %v", port, XFCCFilter, got)
			}
			writes = append(writes, true)
		default:
			return false, fmt.Errorf("waypoint: port %d: filters %v, forward_client_cert_details %s: neither XFCC written nor stripped", port, names, m.GetForwardClientCertDetails())
		}
	}
	if len(writes) == 0 {
		return false, fmt.Errorf("waypoint: no HTTP port of %s", svc)
	}
	if slices.Contains(writes, !writes[0]) {
		return false, fmt.Errorf("waypoint: some ports of %s get XFCC and some do not", svc)
	}
	return writes[0], nil
}

// FilterNames are the names of m's HTTP filters, in order.
func FilterNames(m *hcm.HttpConnectionManager) []string {
	var out []string
	for _, f := range m.GetHttpFilters() {
		out = append(out, f.GetName())
	}
	return out
}
