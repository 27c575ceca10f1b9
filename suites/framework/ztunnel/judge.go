package ztunnel

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// Probe names a client pod, a server pod and the server's workload (target) port: the port
// ztunnel authorizes (a Service port is resolved before ztunnel sees the connection); and the
// Service probed, whose waypoint, if any, a mesh client's connection goes through. Without a
// Service (ServiceName "") the probe is judged as addressed to the server directly, no waypoint.
type Probe struct {
	ClientNamespace, ClientPod    string
	ServerNamespace, ServerPod    string
	ServiceNamespace, ServiceName string
	TargetPort                    int
}

// Judgement is a probe's outcome class as ztunnel's configuration determines it, with why.
type Judgement struct {
	Class scenarios.Class
	// MTLS is whether the connection is HBONE between two ztunnels (or, through a waypoint,
	// HBONE on both hops).
	MTLS bool
	// Waypoint is the waypoint workload (namespace/name) the connection went through, and
	// WaypointIdentity its SPIFFE ID, the identity the server's ztunnel authorized; "" without a
	// waypoint. Whether the waypoint writes XFCC is its (Envoy's) configuration, not ztunnel's:
	// the caller decides that.
	Waypoint, WaypointIdentity string
	Reason                     string
}

// Judge derives a probe's outcome from the dump:
//   - client and server both HBONE: the client's ztunnel opens HBONE with the client's identity;
//     accepted → 200 over mTLS without XFCC (hbone), denied → reset;
//   - client HBONE and the probed Service has a waypoint: the client's ztunnel sends the
//     connection over HBONE to the waypoint instead (src/proxy/outbound.rs build_request, a
//     service-addressed connection; state.rs fetch_service_waypoint), and the waypoint opens HBONE
//     to the server with its own certificate (istio/istio pilot/pkg/networking/core
//     cluster_waypoint.go buildConnectOriginate, listener_waypoint.go buildCommonConnectTLSContext),
//     so the server's ztunnel authorizes the waypoint's identity (src/proxy/inbound.rs: the peer
//     certificate's identity) from the waypoint's address: accepted → hbone via the waypoint;
//   - server HBONE, client not: plaintext reaches the server's ztunnel with no identity, through
//     a waypoint or not (src/proxy/inbound_passthrough.rs proxy_inbound_plaintext runs
//     assert_rbac and connects: no waypoint check); accepted → 200 plaintext, denied → reset
//     (ztunnel closes the connection: curl exit 56);
//   - server not HBONE: nothing enforces anything, 200 plaintext.
func (d *Dump) Judge(p Probe) (Judgement, error) {
	client, ok := d.Workload(p.ClientNamespace, p.ClientPod)
	if !ok {
		return Judgement{}, fmt.Errorf("ztunnel config dump: no workload %s/%s", p.ClientNamespace, p.ClientPod)
	}
	server, ok := d.Workload(p.ServerNamespace, p.ServerPod)
	if !ok {
		return Judgement{}, fmt.Errorf("ztunnel config dump: no workload %s/%s", p.ServerNamespace, p.ServerPod)
	}
	for _, w := range []Workload{client, server} {
		if w.Protocol != ProtocolHBONE && w.Protocol != ProtocolTCP {
			return Judgement{}, fmt.Errorf("ztunnel config dump: workload %s/%s: protocol %q is neither HBONE nor TCP", w.Namespace, w.Name, w.Protocol)
		}
	}
	hbone := client.Protocol == ProtocolHBONE
	if hbone && p.ServiceName != "" {
		svc, err := d.probedService(p)
		if err != nil {
			return Judgement{}, err
		}
		if len(svc.WeightedWaypoints) > 0 {
			return Judgement{}, fmt.Errorf("ztunnel config dump: Service %s has weighted waypoints (one picked at random per connection: state.rs sample_weighted_waypoint), not modelled", svc.Key())
		}
		if svc.Waypoint != nil {
			return d.judgeViaWaypoint(p, client, server, svc)
		}
	}
	if server.Protocol != ProtocolHBONE {
		return Judgement{Class: scenarios.ClassPlaintext, Reason: "server workload is not in the mesh (protocol " + server.Protocol + ")"}, nil
	}
	c := Connection{DstPort: uint16(p.TargetPort), SrcIP: firstIP(client), DstIP: firstIP(server)}
	if hbone {
		c.SrcIdentity = client.Identity()
	}
	dec := d.Authorize(server, c)
	switch {
	case !dec.Allowed:
		return Judgement{Class: scenarios.ClassReset, MTLS: hbone, Reason: dec.Reason}, nil
	case hbone:
		return Judgement{Class: scenarios.ClassHBONE, MTLS: true, Reason: "both workloads HBONE; " + dec.Reason}, nil
	default:
		return Judgement{Class: scenarios.ClassPlaintext, Reason: "client not in the mesh, plaintext without identity; " + dec.Reason}, nil
	}
}

// probedService is the probe's Service; a client's ztunnel that does not know it would not
// see a Service (outbound.rs build_request: fetch_address finds no Service for the VIP), which
// this engine does not model: an error.
func (d *Dump) probedService(p Probe) (Service, error) {
	svc, ok, err := d.Service(p.ServiceNamespace, p.ServiceName)
	if err != nil {
		return Service{}, err
	}
	if !ok {
		return Service{}, fmt.Errorf("ztunnel config dump: no Service %s/%s", p.ServiceNamespace, p.ServiceName)
	}
	return svc, nil
}

// judgeViaWaypoint judges an HBONE client's connection to svc, which has a waypoint: the
// server's ztunnel authorizes the waypoint's identity and address. Every waypoint workload
// ztunnel could pick must give the same answer. A waypoint behind which the server is not HBONE
// (the waypoint would reach it in plaintext), and a connection the server's ztunnel denies (the
// client then gets whatever the waypoint's Envoy answers for a refused upstream), are not
// modelled: errors.
func (d *Dump) judgeViaWaypoint(p Probe, client, server Workload, svc Service) (Judgement, error) {
	wps, err := d.waypointWorkloads(svc, client)
	if err != nil {
		return Judgement{}, err
	}
	if server.Protocol != ProtocolHBONE {
		return Judgement{}, fmt.Errorf("ztunnel config dump: Service %s has waypoint %s but its workload %s/%s is not HBONE (protocol %s): a waypoint in front of a server outside the mesh is not modelled", svc.Key(), svc.Waypoint.Destination, server.Namespace, server.Name, server.Protocol)
	}
	var first Decision
	for i, wp := range wps {
		c := Connection{SrcIdentity: wp.Identity(), SrcIP: firstIP(wp), DstIP: firstIP(server), DstPort: uint16(p.TargetPort)}
		dec := d.Authorize(server, c)
		if !dec.Allowed {
			return Judgement{}, fmt.Errorf("ztunnel config dump: the ztunnel of %s/%s would refuse waypoint %s/%s (%s) of Service %s: what the client gets then is the waypoint's answer, not modelled", server.Namespace, server.Name, wp.Namespace, wp.Name, dec.Reason, svc.Key())
		}
		if i == 0 {
			first = dec
			continue
		}
		if wp.Identity() != wps[0].Identity() {
			return Judgement{}, fmt.Errorf("ztunnel config dump: waypoint %s of Service %s: its workloads %s/%s and %s/%s have different identities (ztunnel picks one per connection), not modelled", svc.Waypoint.Destination, svc.Key(), wps[0].Namespace, wps[0].Name, wp.Namespace, wp.Name)
		}
	}
	wp := wps[0]
	reason := fmt.Sprintf("client HBONE to waypoint %s/%s of Service %s, which opens HBONE to the server as %s; %s", wp.Namespace, wp.Name, svc.Key(), wp.Identity(), first.Reason)
	if len(wps) > 1 {
		reason += fmt.Sprintf(" (the same for all %d waypoint workloads)", len(wps))
	}
	return Judgement{Class: scenarios.ClassHBONE, MTLS: true, Waypoint: wp.Namespace + "/" + wp.Name, WaypointIdentity: wp.Identity(), Reason: reason}, nil
}

// Unknown names what the dump lacks that judging p needs and that a ztunnel can still receive
// from istiod — "pod <namespace>/<name>", "Service <namespace>/<name>" or "waypoint <address> of
// Service <namespace>/<name>" — or "" when it has everything.
func (d *Dump) Unknown(p Probe) string {
	client, ok := d.Workload(p.ClientNamespace, p.ClientPod)
	if !ok {
		return "pod " + p.ClientNamespace + "/" + p.ClientPod
	}
	if _, ok := d.Workload(p.ServerNamespace, p.ServerPod); !ok {
		return "pod " + p.ServerNamespace + "/" + p.ServerPod
	}
	if client.Protocol != ProtocolHBONE || p.ServiceName == "" {
		return ""
	}
	svc, ok, err := d.Service(p.ServiceNamespace, p.ServiceName)
	switch {
	case err != nil:
		return "" // Judge reports it
	case !ok:
		return "Service " + p.ServiceNamespace + "/" + p.ServiceName
	case svc.Waypoint == nil:
		return ""
	}
	if _, err := d.waypointWorkloads(svc, client); err != nil {
		if u, ok := unresolvedWaypoint(err); ok {
			return "waypoint " + u.Waypoint + " of Service " + u.Service
		}
	}
	return ""
}

func firstIP(w Workload) netip.Addr {
	for _, s := range w.WorkloadIPs {
		if a, err := netip.ParseAddr(s); err == nil {
			return a
		}
	}
	return netip.Addr{}
}

// MatrixProbe is what ztunnel sees of a probe of the matrix on topo: the client workload's pod,
// the probed Service, the pod behind it, and the Service port's target port (the workload port
// ztunnel authorizes); with the client workload and the one behind the Service. pod names a
// workload's pod.
func MatrixProbe(topo *fixtures.Topology, p scenarios.Probe, pod func(fixtures.Workload) (string, error)) (zp Probe, client, server fixtures.Workload, err error) {
	client, ok := topo.Workload(p.From)
	if !ok {
		return Probe{}, client, server, fmt.Errorf("probe %s: no client workload %s", p, p.From)
	}
	svc, ok := topo.Service(p.To)
	if !ok {
		return Probe{}, client, server, fmt.Errorf("probe %s: no Service %s", p, p.To)
	}
	servers := topo.ServiceWorkloads(svc)
	if len(servers) != 1 {
		return Probe{}, client, server, fmt.Errorf("probe %s: Service %s selects %d workloads, want 1", p, p.To, len(servers))
	}
	server = servers[0]
	i := slices.IndexFunc(svc.Ports, func(x fixtures.ServicePort) bool { return x.Port == p.Port })
	if i < 0 {
		return Probe{}, client, server, fmt.Errorf("probe %s: Service %s has no port %d", p, p.To, p.Port)
	}
	clientPod, err := pod(client)
	if err != nil {
		return Probe{}, client, server, err
	}
	serverPod, err := pod(server)
	if err != nil {
		return Probe{}, client, server, err
	}
	return Probe{ClientNamespace: client.Namespace, ClientPod: clientPod, ServerNamespace: server.Namespace, ServerPod: serverPod,
		ServiceNamespace: svc.Namespace, ServiceName: svc.Name, TargetPort: svc.Ports[i].TargetPort}, client, server, nil
}
