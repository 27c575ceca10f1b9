package authcheck

import (
	"fmt"
	"slices"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
)

// Expectations are what every sidecar's configuration must say when st is in force, as the
// oracle predicts it: each server's mode on each workload port (oracle.EffectiveModes), and what
// each client sends through each Service port's cluster (from oracle.Predict). Workloads without a
// sidecar in st have none.
func Expectations(topo *fixtures.Topology, st scenarios.State) ([]ProxyExpectation, error) {
	in := oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Injected}
	modes, err := oracle.EffectiveModes(in)
	if err != nil {
		return nil, err
	}
	outcomes, err := oracle.Predict(in)
	if err != nil {
		return nil, err
	}
	var out []ProxyExpectation
	for _, wl := range slices.Concat(topo.Clients, topo.Servers) {
		if !st.Injected[wl.Namespace] {
			continue
		}
		e := ProxyExpectation{Workload: wl}
		if ports, ok := modes[wl.Ref]; ok {
			e.Inbound = map[int]Mode{}
			for port, mode := range ports {
				e.Inbound[port] = Mode(mode)
			}
		}
		for _, o := range outcomes {
			if o.From != wl.Ref {
				continue
			}
			svc, _ := topo.Service(o.To)
			server := topo.ServiceWorkloads(svc)[0]
			i := slices.IndexFunc(svc.Ports, func(p fixtures.ServicePort) bool { return p.Port == o.Port })
			target := svc.Ports[i].TargetPort
			mtls, err := clientSendsMTLS(o, st.Injected[server.Namespace], modes[server.Ref][target])
			if err != nil {
				return nil, err
			}
			if e.Outbound == nil {
				e.Outbound = map[string]bool{}
			}
			e.Outbound[OutboundName(fixtures.Hostname(svc.Ref), o.Port)] = mtls
		}
		out = append(out, e)
	}
	return out, nil
}

// clientSendsMTLS reads what a sidecar client sends off the oracle's outcome for one of its
// probes and the server's mode on the target port: mTLS reaches the app as mTLS, plaintext as
// plaintext, and Envoy's 503 is mTLS into a server that cannot terminate it (no sidecar, or
// DISABLE) or plaintext into STRICT — the cases of oracle.predictOne for a client with a sidecar.
func clientSendsMTLS(o scenarios.ProbeOutcome, serverSidecar bool, serverMode oracle.Mode) (bool, error) {
	switch c := o.Class(); {
	case c == scenarios.ClassMTLS:
		return true, nil
	case c == scenarios.ClassPlaintext:
		return false, nil
	case c == scenarios.ClassUpstreamError && (!serverSidecar || serverMode == oracle.Disable):
		return true, nil
	case c == scenarios.ClassUpstreamError && serverMode == oracle.Strict:
		return false, nil
	default:
		return false, fmt.Errorf("%s: a client with a sidecar cannot observe %s from a server whose mode is %q", o.Probe, c, serverMode)
	}
}
