package ztunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// UnresolvedWaypointError is a waypoint address the dump does not resolve to a workload: ztunnel
// fails the connection then (src/state.rs fetch_waypoint: Error::UnknownWaypoint). On a live
// cluster it can be a ztunnel that has not yet received the waypoint's Service or pod.
type UnresolvedWaypointError struct {
	Service  string // namespace/name of the Service whose waypoint it is
	Waypoint string // the GatewayAddress destination
	Why      string
}

func (e *UnresolvedWaypointError) Error() string {
	return fmt.Sprintf("ztunnel config dump: waypoint %s of Service %s does not resolve: %s", e.Waypoint, e.Service, e.Why)
}

// gatewayDestination is a GatewayAddress destination read as ztunnel's untagged enum reads it
// (src/state/workload.rs gatewayaddress::Destination: Address, a NetworkAddress "<network>/<ip>",
// is tried first, then Hostname, a NamespacedHostname "<namespace>/<hostname>").
type gatewayDestination struct {
	network   string
	ip        netip.Addr // valid for an address
	namespace string
	hostname  string
}

func parseGatewayDestination(s string) (gatewayDestination, error) {
	left, right, ok := strings.Cut(s, "/")
	if !ok {
		return gatewayDestination{}, fmt.Errorf("destination %q is neither <network>/<ip> nor <namespace>/<hostname>", s)
	}
	if ip, err := netip.ParseAddr(right); err == nil {
		return gatewayDestination{network: left, ip: ip}, nil
	}
	return gatewayDestination{namespace: left, hostname: right}, nil
}

// waypointWorkloads are the workloads a client's ztunnel may send a connection for svc to, as
// src/state.rs fetch_service_waypoint → fetch_waypoint → find_upstream / find_hostname,
// find_upstream_from_service (ServiceResolutionMode::Waypoint), load_balance and
// finalize_upstream choose one: every one ztunnel could pick, sorted by UID. Weighted waypoints,
// strict or passthrough load balancing, waypoints on another network and waypoints reached by DNS
// are not modelled (an error, never a guess); an address that resolves to nothing is an
// *UnresolvedWaypointError.
func (d *Dump) waypointWorkloads(svc Service, client Workload) ([]Workload, error) {
	gw := svc.Waypoint
	notModelled := func(format string, args ...any) error {
		return fmt.Errorf("ztunnel config dump: waypoint %s of Service %s: %s is not modelled", gw.Destination, svc.Key(), fmt.Sprintf(format, args...))
	}
	unresolved := func(format string, args ...any) error {
		return &UnresolvedWaypointError{Service: svc.Key(), Waypoint: gw.Destination, Why: fmt.Sprintf(format, args...)}
	}
	if gw.HBONEMTLSPort == 0 {
		return nil, notModelled("a waypoint without hboneMtlsPort")
	}
	dest, err := parseGatewayDestination(gw.Destination)
	if err != nil {
		return nil, notModelled("%v", err)
	}
	var candidates []Workload
	if dest.ip.IsValid() {
		// find_upstream: a Service VIP first (visible to the client's namespace), then a
		// Service CIDR VIP, then a workload IP.
		vip := dest.network + "/" + dest.ip.String()
		var byVIP []Service
		for _, s := range d.Services {
			if slices.Contains(s.VIPs, vip) && (s.Visibility != "Namespace" || s.Namespace == client.Namespace) {
				byVIP = append(byVIP, s)
			}
		}
		switch {
		case len(byVIP) > 1:
			// ServiceMatch::find_best_match prefers the client's namespace, then a canonical
			// Service, then the first seen: an order the dump does not keep.
			i := slices.IndexFunc(byVIP, func(s Service) bool { return s.Namespace == client.Namespace })
			if i < 0 {
				return nil, notModelled("VIP %s shared by %d Services", vip, len(byVIP))
			}
			byVIP = byVIP[i : i+1]
			fallthrough
		case len(byVIP) == 1:
			s := byVIP[0]
			if s.LoadBalancer != nil && s.LoadBalancer.Mode == LoadBalancerPassthrough {
				return nil, unresolved("Service %s is passthrough (no endpoint to pick)", s.Key())
			}
			if candidates, err = d.serviceWaypointEndpoints(s, gw.HBONEMTLSPort, client, notModelled); err != nil {
				return nil, err
			}
		default:
			for _, s := range d.Services {
				for _, c := range s.CIDRVIPs {
					if p, err := netip.ParsePrefix(c.CIDR); err == nil && c.Network == dest.network && p.Contains(dest.ip) {
						return nil, notModelled("an address in Service %s's CIDR VIP %s", s.Key(), c.CIDR)
					}
				}
			}
			for _, w := range d.Workloads {
				if w.Network == dest.network && slices.Contains(w.WorkloadIPs, dest.ip.String()) {
					candidates = append(candidates, w)
				}
			}
			if len(candidates) > 1 {
				return nil, notModelled("%d workloads with address %s", len(candidates), vip)
			}
		}
	} else {
		// find_hostname: the Service of that namespace and hostname, else a workload's hostname.
		var byHost []Service
		for _, s := range d.Services {
			if s.Hostname == dest.hostname && s.Namespace == dest.namespace {
				byHost = append(byHost, s)
			}
		}
		if len(byHost) > 0 {
			// ServiceStore by_host keeps one Service per namespace and hostname.
			if candidates, err = d.serviceWaypointEndpoints(byHost[0], gw.HBONEMTLSPort, client, notModelled); err != nil {
				return nil, err
			}
		} else if i := slices.IndexFunc(d.Workloads, func(w Workload) bool {
			return w.Hostname == dest.hostname && w.Namespace == dest.namespace
		}); i >= 0 {
			candidates = []Workload{d.Workloads[i]}
		}
	}
	if len(candidates) == 0 {
		return nil, unresolved("no Service or workload with a usable endpoint")
	}
	for _, w := range candidates {
		// outbound.rs build_request: a waypoint on another network is reached through its
		// network gateway; finalize_upstream: a workload without an IP is resolved by DNS.
		if w.Network != client.Network {
			return nil, notModelled("waypoint workload %s/%s on network %q (the client's is %q)", w.Namespace, w.Name, w.Network, client.Network)
		}
		if !firstIP(w).IsValid() {
			return nil, notModelled("waypoint workload %s/%s without an IP", w.Namespace, w.Name)
		}
	}
	slices.SortFunc(candidates, func(a, b Workload) int { return strings.Compare(a.UID, b.UID) })
	return candidates, nil
}

// serviceWaypointEndpoints are the workloads load_balance may pick among svc's endpoints in
// ServiceResolutionMode::Waypoint for the waypoint's HBONE port: known workloads with an address,
// and either the port on the Service or an application tunnel; capacity 0 is never picked
// (choose_weighted by capacity).
func (d *Dump) serviceWaypointEndpoints(svc Service, port uint16, client Workload, notModelled func(string, ...any) error) ([]Workload, error) {
	if svc.LoadBalancer != nil && svc.LoadBalancer.Mode == LoadBalancerStrict {
		return nil, notModelled("Service %s with strict load balancing", svc.Key())
	}
	_, hasPort := svc.Ports[port]
	var out []Workload
	for _, ep := range svc.Endpoints {
		i := slices.IndexFunc(d.Workloads, func(w Workload) bool { return w.UID == ep.WorkloadUID })
		if i < 0 {
			continue // "failed to fetch workload"
		}
		w := d.Workloads[i]
		if len(w.WorkloadIPs) == 0 && w.Hostname == "" && w.Network == client.Network {
			continue // no address, and on the client's network: no gateway to use
		}
		if !hasPort && len(w.ApplicationTunnel) == 0 {
			continue
		}
		if w.Capacity != nil && *w.Capacity == 0 {
			continue
		}
		out = append(out, w)
	}
	return out, nil
}

// unresolvedWaypoint is err's unresolved waypoint, if that is what it is.
func unresolvedWaypoint(err error) (*UnresolvedWaypointError, bool) {
	var u *UnresolvedWaypointError
	ok := errors.As(err, &u)
	return u, ok
}
