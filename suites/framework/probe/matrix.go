package probe

import (
	"context"
	"fmt"
	"sync"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// RunMatrix converges every probe, at most opts.Parallel at a time (all at once when it is 0),
// and returns one Result per probe in the probes' order (each has Converged or Err). It returns
// once every probe is done; when ctx ends, probes not yet started report ctx's error.
func RunMatrix(ctx context.Context, exec Executor, probes []Probe, opts Options) []*Result {
	opts = opts.withDefaults()
	results := make([]*Result, len(probes))
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = len(probes)
	}
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, p := range probes {
		if ctx.Err() == nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			results[i] = &Result{Probe: p, Err: fmt.Errorf("%s: not started: %w", p.Target, ctx.Err())}
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			results[i] = Converge(ctx, exec, p.Target, p.Expected, opts)
		})
	}
	wg.Wait()
	return results
}

// TargetFor builds the cluster target of a scenario probe: curl in the client workload to
// http://<service>.<namespace>:<port>/headers. Both ends must exist in the topology.
func TargetFor(topo *fixtures.Topology, p scenarios.Probe) (Target, error) {
	client, ok := topo.Workload(p.From)
	if !ok || client.Role != fixtures.RoleClient {
		return Target{}, fmt.Errorf("probe %s: %s is not a client workload", p, p.From)
	}
	svc, ok := topo.Service(p.To)
	if !ok {
		return Target{}, fmt.Errorf("probe %s: no Service %s", p, p.To)
	}
	for _, port := range svc.Ports {
		if port.Port == p.Port {
			return Target{Client: client, Host: p.To.String(), Port: p.Port}, nil
		}
	}
	return Target{}, fmt.Errorf("probe %s: Service %s has no port %d", p, p.To, p.Port)
}

// ProbesFor turns expected outcomes (a scenario's matrix) into probes, in the same order.
func ProbesFor(topo *fixtures.Topology, expected []scenarios.ProbeOutcome) ([]Probe, error) {
	probes := make([]Probe, 0, len(expected))
	for _, e := range expected {
		t, err := TargetFor(topo, e.Probe)
		if err != nil {
			return nil, err
		}
		probes = append(probes, Probe{Target: t, Expected: e.Outcome})
	}
	return probes, nil
}
