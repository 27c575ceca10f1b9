// Package waypointdump builds the listeners a waypoint's Envoy holds, as far as
// suites/framework/waypoint reads them, for tests that have no waypoint to read.
package waypointdump

import (
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	headermutation "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	envoywaypoint "github.com/mtls-conformance/mtls-conformance/suites/framework/waypoint"
)

// Manager is an HTTP connection manager as a waypoint serves a port: with the XFCC filter
// (mutation, when not nil) first, then the router, forwarding XFCC as details says.
func Manager(t testing.TB, mutation *headermutation.HeaderMutation, details hcm.HttpConnectionManager_ForwardClientCertDetails) *hcm.HttpConnectionManager {
	t.Helper()
	m := &hcm.HttpConnectionManager{ForwardClientCertDetails: details}
	if mutation != nil {
		m.HttpFilters = append(m.HttpFilters, &hcm.HttpFilter{Name: envoywaypoint.XFCCFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: anyOf(t, mutation)}})
	}
	m.HttpFilters = append(m.HttpFilters, &hcm.HttpFilter{Name: "envoy.filters.http.router"})
	return m
}

// Writes is the manager of a waypoint whose Gateway asks for the client identity (writes) or
// not: the XFCC filter and ALWAYS_FORWARD_ONLY, or neither and SANITIZE (Istio's, as
// tools/istiogen/waypoint checks).
func Writes(t testing.TB, writes bool) *hcm.HttpConnectionManager {
	if writes {
		return Manager(t, envoywaypoint.XFCCMutation(), hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY)
	}
	return Manager(t, nil, hcm.HttpConnectionManager_SANITIZE)
}

// Listeners are a waypoint's listeners: another one, then main_internal with a chain for each
// Service port of managers, named as Istio names it (envoywaypoint.ChainName).
func Listeners(t testing.TB, managers map[fixtures.Ref]map[int]*hcm.HttpConnectionManager) []*listener.Listener {
	t.Helper()
	l := &listener.Listener{Name: envoywaypoint.MainInternal}
	for svc, ports := range managers {
		for port, m := range ports {
			l.FilterChains = append(l.FilterChains, &listener.FilterChain{
				Name:    envoywaypoint.ChainName(svc, port),
				Filters: []*listener.Filter{{Name: envoywaypoint.HTTPConnectionManagerFilter, ConfigType: &listener.Filter_TypedConfig{TypedConfig: anyOf(t, m)}}},
			})
		}
	}
	return []*listener.Listener{{Name: "connect_terminate"}, l}
}

// ForNamespace are the listeners of namespace ns's waypoint serving every HTTP port of each of
// topo's Services in ns, all writing XFCC or none.
func ForNamespace(t testing.TB, topo *fixtures.Topology, ns string, writes bool) []*listener.Listener {
	t.Helper()
	managers := map[fixtures.Ref]map[int]*hcm.HttpConnectionManager{}
	for _, svc := range topo.Services {
		if svc.Namespace != ns {
			continue
		}
		for _, p := range svc.Ports {
			if managers[svc.Ref] == nil {
				managers[svc.Ref] = map[int]*hcm.HttpConnectionManager{}
			}
			managers[svc.Ref][p.Port] = Writes(t, writes)
		}
	}
	return Listeners(t, managers)
}

func anyOf(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
