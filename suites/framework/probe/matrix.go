package probe

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// RunMatrix converges every probe and returns one Result per probe in the probes' order (each has
// Converged or Err). It probes in rounds opts.Interval apart: in each round, every client with
// probes still converging makes their requests in one exec (OnceBatch), at most opts.Parallel
// execs at a time (all at once when it is 0); a converged probe drops out of later rounds. It
// returns once every probe is done; when ctx ends, the probes still converging report ctx's error.
func RunMatrix(ctx context.Context, exec Executor, probes []Probe, opts Options) []*Result {
	opts = opts.withDefaults()
	start := time.Now()
	results := make([]*Result, len(probes))
	tracks := make([]*convergence, len(probes))
	var clients []string // in order of first appearance
	byClient := map[string][]int{}
	for i, p := range probes {
		results[i] = &Result{Probe: p}
		if err := validate(p.Expected); err != nil {
			results[i].Err = err
			continue
		}
		tracks[i] = newConvergence(results[i], opts, start)
		key := p.Target.Client.Ref.String()
		if byClient[key] == nil {
			clients = append(clients, key)
		}
		byClient[key] = append(byClient[key], i)
	}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = len(clients)
	}
	pending := func(key string) []int {
		var open []int
		for _, i := range byClient[key] {
			if !tracks[i].done {
				open = append(open, i)
			}
		}
		return open
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		roundStart := time.Now()
		slots := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for _, key := range clients {
			open := pending(key)
			if len(open) == 0 {
				continue
			}
			if ctx.Err() == nil {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				for _, i := range open {
					tracks[i].cancel(ctx.Err())
				}
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				targets := make([]Target, len(open))
				for k, i := range open {
					targets[k] = probes[i].Target
				}
				// Requests run one after another: the exec may take each one's MaxTime.
				batchCtx, cancel := context.WithTimeout(ctx, time.Duration(len(open))*opts.MaxTime+opts.ExecGrace)
				defer cancel()
				for k, obs := range OnceBatch(batchCtx, exec, targets, opts) {
					tracks[open[k]].observe(obs, roundStart)
				}
			})
		}
		wg.Wait()
		next := roundStart.Add(opts.Interval)
		busy := false
		for _, key := range clients {
			for _, i := range pending(key) {
				if ctx.Err() != nil {
					tracks[i].cancel(ctx.Err())
					continue
				}
				if !tracks[i].outOfTime(next) {
					busy = true
				}
			}
		}
		if !busy {
			return results
		}
		timer.Reset(time.Until(next))
	}
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
