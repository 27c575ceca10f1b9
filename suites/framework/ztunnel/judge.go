package ztunnel

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// Probe names a client pod, a server pod and the server's workload (target) port: the port
// ztunnel authorizes (a Service port is resolved before ztunnel sees the connection).
type Probe struct {
	ClientNamespace, ClientPod string
	ServerNamespace, ServerPod string
	TargetPort                 int
}

// Judgement is a probe's outcome class as ztunnel's configuration determines it, with why.
type Judgement struct {
	Class scenarios.Class
	// MTLS is whether the connection is HBONE between two ztunnels.
	MTLS   bool
	Reason string
}

// Judge derives a probe's outcome from the dump:
//   - client and server both HBONE: the client's ztunnel opens HBONE with the client's identity;
//     accepted → 200 over mTLS without XFCC (hbone), denied → reset;
//   - server HBONE, client not: plaintext reaches the server's ztunnel with no identity;
//     accepted → 200 plaintext, denied → reset (ztunnel closes the connection: curl exit 56);
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
	if server.Protocol != ProtocolHBONE {
		return Judgement{Class: scenarios.ClassPlaintext, Reason: "server workload is not in the mesh (protocol " + server.Protocol + ")"}, nil
	}
	c := Connection{DstPort: uint16(p.TargetPort), SrcIP: firstIP(client), DstIP: firstIP(server)}
	hbone := client.Protocol == ProtocolHBONE
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

func firstIP(w Workload) netip.Addr {
	for _, s := range w.WorkloadIPs {
		if a, err := netip.ParseAddr(s); err == nil {
			return a
		}
	}
	return netip.Addr{}
}

// MatrixProbe is what ztunnel sees of a probe of the matrix on topo: the client workload's pod,
// the pod behind the probed Service, and the Service port's target port (the workload port
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
	return Probe{ClientNamespace: client.Namespace, ClientPod: clientPod, ServerNamespace: server.Namespace, ServerPod: serverPod, TargetPort: svc.Ports[i].TargetPort}, client, server, nil
}
