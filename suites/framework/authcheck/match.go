package authcheck

import (
	"net/netip"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// Listener filter and transport protocol names Envoy and Istio use
// (envoy source/extensions/filters/listener/*; istio pilot/pkg/xds/filters/filters.go).
const (
	tlsInspectorName  = "envoy.filters.listener.tls_inspector"
	httpInspectorName = "envoy.filters.listener.http_inspector"
	transportTLS      = "tls"
	transportRaw      = "raw_buffer"
)

// Conn is one downstream connection as Envoy's filter chain selection sees it.
type Conn struct {
	// Port and Addr are the original destination (the pod IP and workload port, after
	// iptables redirected the connection to the inbound listener).
	Port uint32
	Addr netip.Addr
	// TLS: the client starts with a TLS ClientHello offering ALPN and SNI.
	TLS  bool
	ALPN []string
	SNI  string
	// HTTP: a plaintext client speaks HTTP/1.1 (what http_inspector detects as "http/1.1").
	HTTP bool
}

// Client connections the engine uses to judge a port. Istio's sidecar sends HTTP over mTLS
// with ALPN istio-http/1.1 (the istio.alpn filter overrides it per upstream protocol:
// istio/istio pilot/pkg/xds/filters/filters.go Alpn), and unidentified TCP with
// [istio-peer-exchange, istio] (pilot/pkg/networking/util/util.go ALPNInMeshWithMxc).
var (
	mtlsHTTPALPN = []string{"istio-http/1.1"}
	mtlsTCPALPN  = []string{"istio-peer-exchange", "istio"}
)

// SelectFilterChain returns the chain Envoy hands conn to, or nil when the connection is closed
// for want of one. It follows Envoy's FilterChainMatch order — destination port, destination
// IP, server names, transport protocol, application protocols — where at each step the chains
// that match the criterion exactly win, and chains that leave it unset are the fallback only
// when none does; a connection never backtracks to a less specific branch
// (envoy source/common/listener_manager/filter_chain_manager_impl.cc, findFilterChain;
// api envoy/config/listener/v3/listener_components.proto FilterChainMatch). Source criteria are
// not evaluated: Istio's sidecar listeners do not set them.
func SelectFilterChain(l *listenerv3.Listener, conn Conn) *listenerv3.FilterChain {
	tlsInspected := listenerFilterActive(l, tlsInspectorName, conn.Port)
	transport := transportRaw
	var alpn []string
	if tlsInspected && conn.TLS {
		transport = transportTLS
		alpn = conn.ALPN
	}
	if !conn.TLS && conn.HTTP && listenerFilterActive(l, httpInspectorName, conn.Port) {
		alpn = []string{"http/1.1"}
	}
	sni := ""
	if tlsInspected && conn.TLS {
		sni = conn.SNI
	}

	chains := l.GetFilterChains()
	chains = narrow(chains, func(m *listenerv3.FilterChainMatch) (bool, int) {
		p := m.GetDestinationPort()
		if p == nil {
			return false, 0
		}
		return true, boolRank(p.GetValue() == conn.Port)
	})
	chains = narrow(chains, func(m *listenerv3.FilterChainMatch) (bool, int) {
		if len(m.GetPrefixRanges()) == 0 {
			return false, 0
		}
		return true, prefixRank(m.GetPrefixRanges(), conn.Addr)
	})
	chains = narrow(chains, func(m *listenerv3.FilterChainMatch) (bool, int) {
		if len(m.GetServerNames()) == 0 {
			return false, 0
		}
		return true, serverNameRank(m.GetServerNames(), sni)
	})
	chains = narrow(chains, func(m *listenerv3.FilterChainMatch) (bool, int) {
		if m.GetTransportProtocol() == "" {
			return false, 0
		}
		return true, boolRank(m.GetTransportProtocol() == transport)
	})
	chains = narrow(chains, func(m *listenerv3.FilterChainMatch) (bool, int) {
		if len(m.GetApplicationProtocols()) == 0 {
			return false, 0
		}
		for _, p := range alpn {
			if slices.Contains(m.GetApplicationProtocols(), p) {
				return true, 1
			}
		}
		return true, 0
	})
	switch len(chains) {
	case 0:
		return l.GetDefaultFilterChain()
	default:
		// Envoy rejects listeners whose chains overlap, so more than one left means the dump
		// is not one Envoy accepted; the first is as good an answer as any.
		return chains[0]
	}
}

// narrow keeps, among chains that set a criterion, those with the best positive rank; if none
// ranks positive, it keeps the chains that leave the criterion unset.
func narrow(chains []*listenerv3.FilterChain, rank func(*listenerv3.FilterChainMatch) (set bool, r int)) []*listenerv3.FilterChain {
	best := 0
	var winners, unset []*listenerv3.FilterChain
	for _, c := range chains {
		set, r := rank(c.GetFilterChainMatch())
		switch {
		case !set:
			unset = append(unset, c)
		case r > best:
			best, winners = r, []*listenerv3.FilterChain{c}
		case r == best && r > 0:
			winners = append(winners, c)
		}
	}
	if best > 0 {
		return winners
	}
	return unset
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// prefixRank is 1 + the length of the longest prefix containing addr (so /0 still ranks), 0
// if none does. An unknown address is contained only by /0 prefixes.
func prefixRank(ranges []*corev3.CidrRange, addr netip.Addr) int {
	best := 0
	for _, r := range ranges {
		a, err := netip.ParseAddr(r.GetAddressPrefix())
		if err != nil {
			continue
		}
		bits := int(r.GetPrefixLen().GetValue())
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		contains := addr.IsValid() && p.Contains(addr)
		if !addr.IsValid() && bits == 0 {
			contains = true
		}
		if contains && bits+1 > best {
			best = bits + 1
		}
	}
	return best
}

// serverNameRank: exact SNI beats the longest matching wildcard (*.example.com).
func serverNameRank(names []string, sni string) int {
	if sni == "" {
		return 0
	}
	best := 0
	for _, n := range names {
		switch {
		case n == sni:
			return 1 << 20
		case strings.HasPrefix(n, "*.") && strings.HasSuffix(sni, n[1:]) && len(n) > best:
			best = len(n)
		}
	}
	return best
}

// listenerFilterActive reports whether the listener runs the named listener filter for
// connections to port (its filter_disabled predicate, if any, does not match).
func listenerFilterActive(l *listenerv3.Listener, name string, port uint32) bool {
	for _, f := range l.GetListenerFilters() {
		if f.GetName() != name {
			continue
		}
		if d := f.GetFilterDisabled(); d != nil && predicateMatches(d, port) {
			return false
		}
		return true
	}
	return false
}

func predicateMatches(p *listenerv3.ListenerFilterChainMatchPredicate, port uint32) bool {
	switch r := p.GetRule().(type) {
	case *listenerv3.ListenerFilterChainMatchPredicate_OrMatch:
		for _, sub := range r.OrMatch.GetRules() {
			if predicateMatches(sub, port) {
				return true
			}
		}
		return false
	case *listenerv3.ListenerFilterChainMatchPredicate_AndMatch:
		for _, sub := range r.AndMatch.GetRules() {
			if !predicateMatches(sub, port) {
				return false
			}
		}
		return true
	case *listenerv3.ListenerFilterChainMatchPredicate_NotMatch:
		return !predicateMatches(r.NotMatch, port)
	case *listenerv3.ListenerFilterChainMatchPredicate_AnyMatch:
		return r.AnyMatch
	case *listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange:
		// Int32Range is [start, end).
		return int64(port) >= int64(r.DestinationPortRange.GetStart()) && int64(port) < int64(r.DestinationPortRange.GetEnd())
	}
	return false
}
