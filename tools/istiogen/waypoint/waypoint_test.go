package waypoint

import (
	"slices"
	"testing"

	headermutation "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	"istio.io/istio/pilot/pkg/model"
	securitymodel "istio.io/istio/pilot/pkg/security/model"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/protocol"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/wellknown"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	envoywaypoint "github.com/mtls-conformance/mtls-conformance/suites/framework/waypoint"
)

// authFilters are the authn/authz filters buildWaypointHTTPFilters may put in the chain
// (authz custom → ext_authz, authn → jwt_authn (pilot/pkg/networking/plugin/authn
// authentication.go BuildHTTP), authz → rbac); the XFCC filter must run before each of them so
// that XFCC-reading policies see the synthesized value.
var authFilters = []string{wellknown.HTTPExternalAuthorization, securitymodel.EnvoyJwtFilterName, wellknown.HTTPRoleBasedAccessControl}

// httpManagers is g.HTTPManagers, failing t on an error.
func httpManagers(t *testing.T, g *Generated) map[int]*hcm.HttpConnectionManager {
	t.Helper()
	m, err := g.HTTPManagers()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestXFCCClientIdentityAnnotation: with ambient.istio.io/xfcc-include-client-identity "true" on
// the waypoint's Gateway, Istio 1.31.0 puts the XFCC header_mutation filter first in every HTTP
// connection manager serving httpbin.foo and forwards XFCC with ALWAYS_FORWARD_ONLY
// (listener_waypoint.go buildWaypointHTTPFilters, buildWaypointInboundHTTPFilters). With an
// AuthorizationPolicy bound to httpbin the waypoint has an RBAC filter, and the XFCC filter is
// before it.
func TestXFCCClientIdentityAnnotation(t *testing.T) {
	want := envoywaypoint.XFCCMutation()
	// An allow-all policy on httpbin (targetRefs Service: bound to the waypoint the Service
	// uses): it only has to make authz build an RBAC filter.
	allow := config.Config{
		Meta: config.Meta{GroupVersionKind: gvk.AuthorizationPolicy, Name: "httpbin-via-waypoint", Namespace: Served.Namespace,
			ResourceVersion: "1"},
		Spec: &securityv1beta1.AuthorizationPolicy{
			TargetRefs: []*typev1beta1.PolicyTargetReference{{Kind: "Service", Group: "", Name: Served.Name}},
			Action:     securityv1beta1.AuthorizationPolicy_ALLOW,
			Rules:      []*securityv1beta1.Rule{{}},
		},
	}
	for name, tc := range map[string]struct {
		configs []config.Config
		authz   bool
	}{
		"no policy":                      {},
		"AuthorizationPolicy on httpbin": {configs: []config.Config{allow}, authz: true},
	} {
		t.Run(name, func(t *testing.T) {
			g, err := Listeners(t, map[string]string{XFCCClientIdentityAnnotation: "true"}, tc.configs...)
			if err != nil {
				t.Fatal(err)
			}
			for port, m := range httpManagers(t, g) {
				names := envoywaypoint.FilterNames(m)
				t.Logf("port %d: filters %v, forward_client_cert_details %s", port, names, m.GetForwardClientCertDetails())
				if n := countOf(names, envoywaypoint.XFCCFilter); n != 1 {
					t.Fatalf("port %d: %d filters %s, want 1: %v", port, n, envoywaypoint.XFCCFilter, names)
				}
				at := slices.Index(names, envoywaypoint.XFCCFilter)
				// Prepended to the pre filters (buildWaypointHTTPFilters), which go before
				// everything buildHTTPConnectionManager adds.
				if at != 0 {
					t.Errorf("port %d: %s at position %d, want first: %v", port, envoywaypoint.XFCCFilter, at, names)
				}
				for _, a := range authFilters {
					if i := slices.Index(names, a); i >= 0 && i < at {
						t.Errorf("port %d: %s (authn/authz) before %s: %v", port, a, envoywaypoint.XFCCFilter, names)
					}
				}
				if tc.authz && !slices.Contains(names, wellknown.HTTPRoleBasedAccessControl) {
					t.Errorf("port %d: no %s with the AuthorizationPolicy: %v", port, wellknown.HTTPRoleBasedAccessControl, names)
				}
				got := &headermutation.HeaderMutation{}
				if err := m.GetHttpFilters()[at].GetTypedConfig().UnmarshalTo(got); err != nil {
					t.Fatalf("port %d: %s config: %v", port, envoywaypoint.XFCCFilter, err)
				}
				if !proto.Equal(got, want) {
					t.Errorf("port %d: %s config differs (-want +got):\n%s", port, envoywaypoint.XFCCFilter, cmp.Diff(want, got, protocmp.Transform()))
				}
				if d := m.GetForwardClientCertDetails(); d != hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY {
					t.Errorf("port %d: forward_client_cert_details %s, want ALWAYS_FORWARD_ONLY", port, d)
				}
			}
		})
	}
}

// TestXFCCClientIdentityDefault: without the annotation, or with it "false", there is no XFCC
// filter and forward_client_cert_details is unset, i.e. SANITIZE (the enum's zero value):
// buildWaypointInboundHTTPFilters' connection manager sets ServerName, headers and request IDs
// but never ForwardClientCertDetails unless the annotation is on (listener_waypoint.go: "default
// ForwardClientCertDetails on the main_internal HCM is SANITIZE"), and buildHTTPConnectionManager
// (pilot/pkg/networking/core/listener_builder.go) does not set it either. Such a waypoint
// forwards no XFCC.
func TestXFCCClientIdentityDefault(t *testing.T) {
	for name, annotations := range map[string]map[string]string{
		"absent": nil,
		"false":  {XFCCClientIdentityAnnotation: "false"},
	} {
		t.Run(name, func(t *testing.T) {
			g, err := Listeners(t, annotations)
			if err != nil {
				t.Fatal(err)
			}
			for port, m := range httpManagers(t, g) {
				names := envoywaypoint.FilterNames(m)
				t.Logf("port %d: filters %v, forward_client_cert_details %s", port, names, m.GetForwardClientCertDetails())
				if slices.Contains(names, envoywaypoint.XFCCFilter) {
					t.Errorf("port %d: %s present: %v", port, envoywaypoint.XFCCFilter, names)
				}
				if d := m.GetForwardClientCertDetails(); d != hcm.HttpConnectionManager_SANITIZE {
					t.Errorf("port %d: forward_client_cert_details %s, want SANITIZE", port, d)
				}
			}
		})
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestWritesXFCC: the verdict tools/istiogen/ambient predicts from, read from Istio's own
// listeners: the annotation "true" (case-insensitive, listener_waypoint.go
// xfccIncludeClientIdentityEnabled) writes XFCC; absent or "false" does not.
func TestWritesXFCC(t *testing.T) {
	for name, tc := range map[string]struct {
		annotations map[string]string
		want        bool
	}{
		"absent": {nil, false},
		"false":  {map[string]string{XFCCClientIdentityAnnotation: "false"}, false},
		"true":   {map[string]string{XFCCClientIdentityAnnotation: "true"}, true},
		"TRUE":   {map[string]string{XFCCClientIdentityAnnotation: "TRUE"}, true},
	} {
		got, err := WritesXFCC(t, tc.annotations)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != tc.want {
			t.Errorf("%s: writes XFCC %t, want %t", name, got, tc.want)
		}
	}
}

// TestChainNameIsIstios: the engine names the chain serving a Service port as Istio does
// (model.BuildSubsetKey(TrafficDirectionInboundVIP, "http", hostname, port),
// listener_waypoint.go buildWaypointInternal), for the cluster's Service hostnames.
func TestChainNameIsIstios(t *testing.T) {
	for _, port := range []int{8000, 80} {
		want := model.BuildSubsetKey(model.TrafficDirectionInboundVIP, "http", host.Name(Served.Name+"."+Served.Namespace+".svc.cluster.local"), port)
		if got := envoywaypoint.ChainName(Served, port); got != want {
			t.Errorf("ChainName(%s, %d) = %q, Istio's %q", Served, port, got, want)
		}
	}
	if got := fixtures.Hostname(Served); got != "httpbin.foo.svc.cluster.local" {
		t.Errorf("fixtures.Hostname(%s) = %q", Served, got)
	}
}

// TestWaypointClassIsIstios: the class of the Gateway the suite deploys is Istio's waypoint
// class (pkg/config/constants WaypointGatewayClassName), and its one listener the HBONE port
// Istio's waypoints listen on.
func TestWaypointClassIsIstios(t *testing.T) {
	gw := gatewayapi.Waypoint(Name, "foo", nil)
	if string(gw.Spec.GatewayClassName) != constants.WaypointGatewayClassName {
		t.Errorf("class %q, Istio's %q", gw.Spec.GatewayClassName, constants.WaypointGatewayClassName)
	}
	if l := gw.Spec.Listeners; len(l) != 1 || int(l[0].Port) != model.HBoneInboundListenPort || string(l[0].Protocol) != string(protocol.HBONE) {
		t.Errorf("listeners %+v, want one on %d %s", l, model.HBoneInboundListenPort, protocol.HBONE)
	}
}
