package world

import (
	"context"
	"fmt"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
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

// ServerHasSidecar says whether the probe's server is injected at step i of s.
func ServerHasSidecar(topo *fixtures.Topology, s *scenarios.Scenario, i int, p scenarios.Probe) bool {
	return s.StateAt(topo, i).Injected[p.To.Namespace]
}
