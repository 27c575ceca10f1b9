package waypoint

import (
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	headermutation "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

var served = fixtures.Ref{Name: "httpbin", Namespace: "foo"}

// manager is an HTTP connection manager as a waypoint serves a port: with the XFCC filter
// (mutation) first and ALWAYS_FORWARD_ONLY, or without it and SANITIZE.
func manager(t *testing.T, mutation *headermutation.HeaderMutation, details hcm.HttpConnectionManager_ForwardClientCertDetails) *hcm.HttpConnectionManager {
	t.Helper()
	m := &hcm.HttpConnectionManager{ForwardClientCertDetails: details}
	if mutation != nil {
		cfg, err := anypb.New(mutation)
		if err != nil {
			t.Fatal(err)
		}
		m.HttpFilters = append(m.HttpFilters, &hcm.HttpFilter{Name: XFCCFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: cfg}})
	}
	m.HttpFilters = append(m.HttpFilters, &hcm.HttpFilter{Name: "envoy.filters.http.router"})
	return m
}

// listeners is main_internal with one chain per port, each with its manager.
func listeners(t *testing.T, managers map[int]*hcm.HttpConnectionManager) []*listener.Listener {
	t.Helper()
	l := &listener.Listener{Name: mainInternal}
	for port, m := range managers {
		cfg, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		l.FilterChains = append(l.FilterChains, &listener.FilterChain{
			Name:    ChainName(served, port),
			Filters: []*listener.Filter{{Name: hcmFilter, ConfigType: &listener.Filter_TypedConfig{TypedConfig: cfg}}},
		})
	}
	return []*listener.Listener{{Name: "connect_terminate"}, l}
}

// TestWritesXFCC: the filter first with ALWAYS_FORWARD_ONLY writes XFCC, no filter with SANITIZE
// does not; anything in between, another mutation, a missing chain or ports that disagree are
// errors, never a verdict.
func TestWritesXFCC(t *testing.T) {
	writes := func() *hcm.HttpConnectionManager {
		return manager(t, XFCCMutation(), hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY)
	}
	strips := func() *hcm.HttpConnectionManager { return manager(t, nil, hcm.HttpConnectionManager_SANITIZE) }
	other := XFCCMutation()
	other.GetMutations().GetRequestMutations()[0].GetAppend().Header.Value = "By=x"
	for name, tc := range map[string]struct {
		listeners []*listener.Listener
		ports     []int
		want      bool
		err       string
	}{
		"writes":                 {listeners: listeners(t, map[int]*hcm.HttpConnectionManager{8000: writes()}), ports: []int{8000}, want: true},
		"strips":                 {listeners: listeners(t, map[int]*hcm.HttpConnectionManager{8000: strips()}), ports: []int{8000}},
		"filter but sanitize":    {listeners: listeners(t, map[int]*hcm.HttpConnectionManager{8000: manager(t, XFCCMutation(), hcm.HttpConnectionManager_SANITIZE)}), ports: []int{8000}, err: "neither XFCC written nor stripped"},
		"forward without filter": {listeners: listeners(t, map[int]*hcm.HttpConnectionManager{8000: manager(t, nil, hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY)}), ports: []int{8000}, err: "neither XFCC written nor stripped"},
		"another mutation":       {listeners: listeners(t, map[int]*hcm.HttpConnectionManager{8000: manager(t, other, hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY)}), ports: []int{8000}, err: "is not the By=<waypoint>;URI=<client> overwrite"},
		"ports disagree":         {listeners: listeners(t, map[int]*hcm.HttpConnectionManager{8000: writes(), 8080: strips()}), ports: []int{8000, 8080}, err: "some ports of httpbin.foo get XFCC and some do not"},
		"no chain":               {listeners: listeners(t, map[int]*hcm.HttpConnectionManager{8080: writes()}), ports: []int{8000}, err: "no filter chain inbound-vip|8000|http|httpbin.foo.svc.cluster.local"},
		"no main_internal":       {listeners: []*listener.Listener{{Name: "connect_terminate"}}, ports: []int{8000}, err: "no main_internal listener"},
		"no port":                {listeners: listeners(t, nil), err: "no HTTP port of httpbin.foo"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := WritesXFCC(tc.listeners, served, tc.ports)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case got != tc.want:
				t.Errorf("writes XFCC %t, want %t", got, tc.want)
			}
		})
	}
}

// TestXFCCMutationIsACopy: a caller changing what XFCCMutation returns changes nothing here.
func TestXFCCMutationIsACopy(t *testing.T) {
	m := XFCCMutation()
	m.GetMutations().GetRequestMutations()[0].GetAppend().Header = &core.HeaderValue{Key: "x"}
	if proto.Equal(m, xfccMutation) {
		t.Fatal("XFCCMutation returned the package's own message")
	}
}
