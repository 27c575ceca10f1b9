package waypoint_test

import (
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/waypoint"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/waypointdump"
)

var served = fixtures.Ref{Name: "httpbin", Namespace: "foo"}

// TestWritesXFCC: the filter first with ALWAYS_FORWARD_ONLY writes XFCC, no filter with SANITIZE
// does not; anything in between, another mutation, a missing chain or ports that disagree are
// errors, never a verdict.
func TestWritesXFCC(t *testing.T) {
	on := func(managers map[int]*hcm.HttpConnectionManager) []*listener.Listener {
		return waypointdump.Listeners(t, map[fixtures.Ref]map[int]*hcm.HttpConnectionManager{served: managers})
	}
	writes, strips := waypointdump.Writes(t, true), waypointdump.Writes(t, false)
	other := waypoint.XFCCMutation()
	other.GetMutations().GetRequestMutations()[0].GetAppend().Header.Value = "By=x"
	for name, tc := range map[string]struct {
		listeners []*listener.Listener
		ports     []int
		want      bool
		err       string
	}{
		"writes":                 {listeners: on(map[int]*hcm.HttpConnectionManager{8000: writes}), ports: []int{8000}, want: true},
		"strips":                 {listeners: on(map[int]*hcm.HttpConnectionManager{8000: strips}), ports: []int{8000}},
		"filter but sanitize":    {listeners: on(map[int]*hcm.HttpConnectionManager{8000: waypointdump.Manager(t, waypoint.XFCCMutation(), hcm.HttpConnectionManager_SANITIZE)}), ports: []int{8000}, err: "neither XFCC written nor stripped"},
		"forward without filter": {listeners: on(map[int]*hcm.HttpConnectionManager{8000: waypointdump.Manager(t, nil, hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY)}), ports: []int{8000}, err: "neither XFCC written nor stripped"},
		"another mutation":       {listeners: on(map[int]*hcm.HttpConnectionManager{8000: waypointdump.Manager(t, other, hcm.HttpConnectionManager_ALWAYS_FORWARD_ONLY)}), ports: []int{8000}, err: "is not the By=<waypoint>;URI=<client> overwrite"},
		"ports disagree":         {listeners: on(map[int]*hcm.HttpConnectionManager{8000: writes, 8080: strips}), ports: []int{8000, 8080}, err: "some ports of httpbin.foo get XFCC and some do not"},
		"no chain":               {listeners: on(map[int]*hcm.HttpConnectionManager{8080: writes}), ports: []int{8000}, err: "no filter chain inbound-vip|8000|http|httpbin.foo.svc.cluster.local"},
		"no main_internal":       {listeners: []*listener.Listener{{Name: "connect_terminate"}}, ports: []int{8000}, err: "no main_internal listener"},
		"no port":                {listeners: on(nil), err: "no HTTP port of httpbin.foo"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := waypoint.WritesXFCC(tc.listeners, served, tc.ports)
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
	m := waypoint.XFCCMutation()
	m.GetMutations().GetRequestMutations()[0].GetAppend().Header = &core.HeaderValue{Key: "x"}
	if proto.Equal(m, waypoint.XFCCMutation()) {
		t.Fatal("XFCCMutation returned the package's own message")
	}
}
