package world

import (
	"context"
	"fmt"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
)

// WorkloadDump reads the Envoy configuration of the workload's sidecar (seed 002's
// `istioctl exp auth check` view, rebuilt from the config dump).
func (w *World) WorkloadDump(ctx context.Context, wl fixtures.Workload) (*authcheck.Dump, error) {
	f, err := w.dumpFetcher()
	if err != nil {
		return nil, err
	}
	pods, err := f.Sidecars(ctx, wl.Namespace, "")
	if err != nil {
		return nil, err
	}
	for i := range pods {
		if matchesLabels(wl.PodLabels, pods[i].Labels) {
			data, err := f.ConfigDump(ctx, &pods[i])
			if err != nil {
				return nil, err
			}
			return authcheck.ParseConfigDump(data)
		}
	}
	return nil, fmt.Errorf("%s: no running pod with an istio-proxy container", wl.Ref)
}

// dumpFetcher is the one config dump reader of the world, made on first use (the barrier polls
// from several goroutines).
func (w *World) dumpFetcher() (*authcheck.Fetcher, error) {
	w.fetcherOnce.Do(func() { w.fetcher, w.fetcherErr = authcheck.NewFetcher(w.Config) })
	return w.fetcher, w.fetcherErr
}

func matchesLabels(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// ListenerExpectation is one server port's expected inbound mode at a scenario step.
type ListenerExpectation struct {
	Server fixtures.Workload
	Port   int
	Mode   authcheck.Mode
}

// ListenerExpectations are the oracle's modes for every sidecar server port at step i of s,
// sorted as the topology lists servers and ports.
func ListenerExpectations(topo *fixtures.Topology, s *scenarios.Scenario, i int) ([]ListenerExpectation, error) {
	st := s.StateAt(topo, i)
	modes, err := oracle.EffectiveModes(oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Injected})
	if err != nil {
		return nil, err
	}
	var out []ListenerExpectation
	for _, srv := range topo.Servers {
		ports, ok := modes[srv.Ref]
		if !ok {
			continue
		}
		for _, p := range srv.ContainerPorts {
			out = append(out, ListenerExpectation{Server: srv, Port: p, Mode: ports[p]})
		}
	}
	return out, nil
}

// serverHasSidecar says whether the probe's server is injected at step i of s.
func serverHasSidecar(topo *fixtures.Topology, s *scenarios.Scenario, i int, p scenarios.Probe) bool {
	return s.StateAt(topo, i).Injected[p.To.Namespace]
}

// ListenerModes are the inbound modes a step's listener specs saw: server → workload port →
// mode. A port is in it only when its listener showed the expected mode.
type ListenerModes map[fixtures.Ref]map[int]authcheck.Mode

// Saw notes that server's listener on port showed mode.
func (m ListenerModes) Saw(server fixtures.Ref, port int, mode authcheck.Mode) {
	if m[server] == nil {
		m[server] = map[int]authcheck.Mode{}
	}
	m[server][port] = mode
}

// CrossCheckListeners cross-checks, at step i of s, the traffic each probe of expect observed
// (results) with the inbound mode its server port's listener showed (seen): a listener that says
// STRICT while plaintext got a 200 is a disagreement (authcheck.CrossCheck), one error each. A
// probe that observed nothing is passed over, and so is a sidecar server port whose listener was
// not seen: that port's listener spec did not pass and reports its own failure.
func CrossCheckListeners(topo *fixtures.Topology, s *scenarios.Scenario, i int, expect []scenarios.ProbeOutcome, results map[scenarios.Probe]*probe.Result, seen ListenerModes) []error {
	var disagreements []error
	for _, e := range expect {
		r := results[e.Probe]
		if r == nil || r.Last == nil || r.Last.Err != nil {
			continue
		}
		svc, _ := topo.Service(e.To)
		server := topo.ServiceWorkloads(svc)[0]
		target := 0
		for _, p := range svc.Ports {
			if p.Port == e.Port {
				target = p.TargetPort
			}
		}
		sidecar := serverHasSidecar(topo, s, i, e.Probe)
		mode, ok := seen[server.Ref][target]
		if sidecar && !ok {
			continue
		}
		if err := authcheck.CrossCheck(e.Probe, sidecar, mode, r.Last.Outcome()); err != nil {
			disagreements = append(disagreements, err)
		}
	}
	return disagreements
}
