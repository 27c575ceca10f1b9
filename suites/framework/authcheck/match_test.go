package authcheck

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func chain(name string, port uint32, transport string, prefix string) *listenerv3.FilterChain {
	m := &listenerv3.FilterChainMatch{TransportProtocol: transport}
	if port != 0 {
		m.DestinationPort = wrapperspb.UInt32(port)
	}
	if prefix != "" {
		p := netip.MustParsePrefix(prefix)
		m.PrefixRanges = []*corev3.CidrRange{{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}}
	}
	return &listenerv3.FilterChain{Name: name, FilterChainMatch: m}
}

func withTLSInspector(chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		ListenerFilters: []*listenerv3.ListenerFilter{{Name: tlsInspectorName}},
		FilterChains:    chains,
	}
}

// Envoy narrows by destination port first and never falls back to the port-less chains once a
// port matched, even if nothing under the port matches later
// (envoy source/common/listener_manager/filter_chain_manager_impl.cc).
func TestSelectFilterChainDoesNotBacktrack(t *testing.T) {
	l := withTLSInspector(chain("port-tls", 8000, "tls", ""), chain("any-raw", 0, "raw_buffer", ""))
	ip := netip.MustParseAddr("10.0.0.1")
	if fc := SelectFilterChain(l, Conn{Port: 8000, Addr: ip}); fc != nil {
		t.Errorf("plaintext to 8000 landed on %q; Envoy closes it", fc.Name)
	}
	if fc := SelectFilterChain(l, Conn{Port: 9000, Addr: ip}); fc == nil || fc.Name != "any-raw" {
		t.Errorf("plaintext to 9000 landed on %v, want any-raw", fc)
	}
	if fc := SelectFilterChain(l, Conn{Port: 8000, Addr: ip, TLS: true}); fc == nil || fc.Name != "port-tls" {
		t.Errorf("TLS to 8000 landed on %v, want port-tls", fc)
	}
	// With no chain left, the default chain takes the connection.
	l.DefaultFilterChain = &listenerv3.FilterChain{Name: "default"}
	if fc := SelectFilterChain(l, Conn{Port: 8000, Addr: ip}); fc == nil || fc.Name != "default" {
		t.Errorf("plaintext to 8000 with a default chain landed on %v", fc)
	}
}

func TestSelectFilterChainPrefersLongestPrefixAndTLSInspection(t *testing.T) {
	l := withTLSInspector(chain("wide", 0, "", "0.0.0.0/0"), chain("pod", 0, "", "10.0.0.1/32"))
	if fc := SelectFilterChain(l, Conn{Port: 80, Addr: netip.MustParseAddr("10.0.0.1")}); fc.GetName() != "pod" {
		t.Errorf("got %q, want the /32 chain", fc.GetName())
	}
	if fc := SelectFilterChain(l, Conn{Port: 80, Addr: netip.MustParseAddr("10.0.0.2")}); fc.GetName() != "wide" {
		t.Errorf("got %q, want the /0 chain", fc.GetName())
	}
	// Without tls_inspector every connection is raw_buffer to Envoy, TLS or not.
	noInspector := &listenerv3.Listener{FilterChains: []*listenerv3.FilterChain{chain("tls", 0, "tls", ""), chain("raw", 0, "raw_buffer", "")}}
	if fc := SelectFilterChain(noInspector, Conn{Port: 80, TLS: true}); fc.GetName() != "raw" {
		t.Errorf("TLS without tls_inspector landed on %q, want raw", fc.GetName())
	}
}

func TestSidecars(t *testing.T) {
	pod := func(ns, name string, phase corev1.PodPhase, containers, inits []string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Status: corev1.PodStatus{Phase: phase}}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		}
		always := corev1.ContainerRestartPolicyAlways
		for _, c := range inits {
			init := corev1.Container{Name: c}
			if c == "istio-proxy" {
				init.RestartPolicy = &always // a native sidecar; istio-init runs to completion
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers, init)
		}
		return p
	}
	f := &Fetcher{clientset: fake.NewClientset(
		pod("foo", "httpbin-1", corev1.PodRunning, []string{"httpbin", "istio-proxy"}, nil),
		// Native sidecar: istio-proxy as an init container with restartPolicy Always.
		pod("bar", "httpbin-2", corev1.PodRunning, []string{"httpbin"}, []string{"istio-init", "istio-proxy"}),
		pod("legacy", "httpbin-3", corev1.PodRunning, []string{"httpbin"}, nil),
		pod("foo", "sleep-1", corev1.PodPending, []string{"sleep", "istio-proxy"}, nil),
	)}
	ctx := context.Background()
	names := func(pods []corev1.Pod) []string {
		var out []string
		for _, p := range pods {
			out = append(out, p.Namespace+"/"+p.Name)
		}
		return out
	}
	all, err := f.Sidecars(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(all), []string{"bar/httpbin-2", "foo/httpbin-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("all namespaces: %v, want %v", got, want)
	}
	one, err := f.Sidecars(ctx, "foo", "httpbin-1")
	if err != nil || len(one) != 1 {
		t.Fatalf("named pod: %v, %v", names(one), err)
	}
	if _, err := f.Sidecars(ctx, "legacy", "httpbin-3"); err == nil || err.Error() != "pod legacy/httpbin-3 has no istio-proxy container" {
		t.Errorf("pod without sidecar: err = %v", err)
	}
}
