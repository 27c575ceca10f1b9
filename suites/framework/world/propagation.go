package world

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// BaselineState is the mesh with no policy: the fixtures' own injection, or ambient enrolment.
func BaselineState(topo *fixtures.Topology) scenarios.State {
	st := scenarios.State{Injected: map[string]bool{}, Enrolled: map[string]bool{}}
	for _, ns := range topo.InjectedNamespaces() {
		st.Injected[ns] = true
	}
	for _, ns := range topo.EnrolledNamespaces() {
		st.Enrolled[ns] = true
	}
	return st
}

// workloads are every fixture workload: the sidecars a snapshot may find.
func (w *World) workloads() []fixtures.Workload {
	return slices.Concat(w.Topology.Clients, w.Topology.Servers)
}

// barrier reads the sidecars through the cluster (or the source a test set), for as long as a
// probe may take to converge: propagation is the first half of a step's convergence.
func (w *World) barrier() authcheck.Barrier {
	var src authcheck.DumpSource = clusterDumps{w}
	if w.dumps != nil {
		src = w.dumps
	}
	return authcheck.Barrier{Source: src, Timeout: w.Settings.Timeout, Interval: w.barrierInterval}
}

// pushSnapshot is the sidecars' CDS versions before a change to Istio objects, or nil when
// the change touches none (nothing for istiod to push).
func (w *World) pushSnapshot(ctx context.Context, changesIstioObjects bool) authcheck.PushVersions {
	if !changesIstioObjects {
		return nil
	}
	return w.barrier().PushVersions(ctx, w.workloads())
}

// awaitInForce waits until st is in force on every sidecar (the propagation barrier) and records
// how long that took for the step; the error is a *authcheck.PropagationError when it is not.
func (w *World) awaitInForce(ctx context.Context, scenario, step string, stepIndex int, st scenarios.State, before authcheck.PushVersions) error {
	if w.Settings.Ambient() {
		return w.awaitZtunnel(ctx, scenario, step, stepIndex, st)
	}
	want, err := authcheck.Expectations(w.Topology, st)
	if err != nil {
		return err
	}
	return w.awaitExpectations(ctx, scenario, step, stepIndex, want, before)
}

func (w *World) awaitExpectations(ctx context.Context, scenario, step string, stepIndex int, want []authcheck.ProxyExpectation, before authcheck.PushVersions) error {
	p, err := w.barrier().Await(ctx, want, before)
	rec := report.PropagationRecord{
		Scenario: scenario, Step: step, StepIndex: stepIndex, Proxies: []string{},
		InForce: err == nil, Time: time.Now().UTC(),
	}
	if p != nil {
		rec.Proxies = append(rec.Proxies, p.Proxies...)
		rec.DurationMs, rec.PushSeenOn, rec.Note = p.Elapsed.Milliseconds(), p.PushSeenOn, p.Note
	}
	return w.recordPropagation(rec, err)
}

// recordPropagation writes a barrier's record (err, when not nil, is its message) and prints
// its line; it returns err.
func (w *World) recordPropagation(rec report.PropagationRecord, err error) error {
	if err != nil {
		rec.Message = err.Error()
	}
	if w.out != nil {
		fmt.Fprintf(w.out, "%s / %s: %s\n", rec.Scenario, rec.Step, propagationLine(rec))
	}
	if w.run != nil {
		if rerr := w.run.RecordPropagation(rec); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

func propagationLine(r report.PropagationRecord) string {
	proxy := r.ProxyKind()
	switch {
	case !r.InForce:
		return fmt.Sprintf("not in force on every %s after %s", proxy, time.Duration(r.DurationMs)*time.Millisecond)
	case len(r.Proxies) == 0:
		return "no " + proxy + " to wait on (" + r.Note + ")"
	}
	return fmt.Sprintf("in force on %d %ss after %s", len(r.Proxies), proxy, time.Duration(r.DurationMs)*time.Millisecond)
}

// clusterDumps reads the sidecars of the cluster the world runs on.
type clusterDumps struct{ w *World }

// WorkloadDumps reads the Envoy configuration of every running sidecar of the workload.
func (c clusterDumps) WorkloadDumps(ctx context.Context, wl fixtures.Workload) ([]authcheck.ProxyDump, error) {
	f, err := c.w.dumpFetcher()
	if err != nil {
		return nil, err
	}
	pods, err := f.Sidecars(ctx, wl.Namespace, "")
	if err != nil {
		return nil, err
	}
	var out []authcheck.ProxyDump
	for i := range pods {
		if !matchesLabels(wl.PodLabels, pods[i].Labels) {
			continue
		}
		data, err := f.ConfigDump(ctx, &pods[i])
		if err != nil {
			return nil, err
		}
		d, err := authcheck.ParseConfigDump(data)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", pods[i].Namespace, pods[i].Name, err)
		}
		out = append(out, authcheck.ProxyDump{Pod: pods[i].Name + "." + pods[i].Namespace, Dump: d})
	}
	return out, nil
}
