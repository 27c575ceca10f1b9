package world

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

func stateOf(t *testing.T, topo *fixtures.Topology, scenario string, step int) scenarios.State {
	t.Helper()
	return catalogtest.Scenario(t, scenario).StateAt(topo, step)
}

// recordedDumps serves the dumps Istio's generator recorded (authcheck/testdata), one per read
// and repeating the last, for the workloads it has them for.
type recordedDumps map[fixtures.Ref][]string

func (r recordedDumps) WorkloadDumps(_ context.Context, wl fixtures.Workload) ([]authcheck.ProxyDump, error) {
	names := r[wl.Ref]
	if len(names) == 0 {
		return nil, nil
	}
	name := names[0]
	if len(names) > 1 {
		r[wl.Ref] = names[1:]
	}
	data, err := os.ReadFile(filepath.Join("..", "authcheck", "testdata", name+".json"))
	if err != nil {
		return nil, err
	}
	d, err := authcheck.ParseConfigDump(data)
	if err != nil {
		return nil, err
	}
	return []authcheck.ProxyDump{{Pod: wl.Name + "-1." + wl.Namespace, Dump: d}}, nil
}

// The oracle's expectations against what Istio's generator produced for the same states: the
// barrier holds on baseline → namespace STRICT until the STRICT configuration appears, and its
// time is recorded for the step in results.json.
func TestAwaitInForceRecordsThePropagation(t *testing.T) {
	topo := catalogtest.Topology(t)
	run, err := report.NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := settings.Defaults()
	s.Timeout = 10 * time.Second
	w := &World{Settings: s, Topology: topo, run: run, out: &strings.Builder{}}
	httpbinFoo, _ := topo.Workload(fixtures.Ref{Name: "httpbin", Namespace: "foo"})
	sleepFoo, _ := topo.Workload(fixtures.Ref{Name: "sleep", Namespace: "foo"})
	only := func(st scenarios.State, wls ...fixtures.Workload) []authcheck.ProxyExpectation {
		all, err := authcheck.Expectations(topo, st)
		if err != nil {
			t.Fatal(err)
		}
		var out []authcheck.ProxyExpectation
		for _, e := range all {
			for _, wl := range wls {
				if e.Workload.Ref == wl.Ref {
					out = append(out, e)
				}
			}
		}
		return out
	}
	src := recordedDumps{
		httpbinFoo.Ref: {"baseline_httpbin.foo", "baseline_httpbin.foo", "namespace-strict_httpbin.foo"},
		sleepFoo.Ref:   {"baseline_sleep.foo"},
	}
	w.dumps = src
	w.barrierInterval = 10 * time.Millisecond
	if err := w.awaitExpectations(t.Context(), "namespace-strict", "foo STRICT", 0, only(stateOf(t, topo, "namespace-strict", 0), httpbinFoo, sleepFoo), nil); err != nil {
		t.Fatal(err)
	}
	if left := src[httpbinFoo.Ref]; len(left) != 1 || left[0] != "namespace-strict_httpbin.foo" {
		t.Fatalf("the barrier returned before reading the STRICT dump (left %v)", left)
	}

	// The same dumps never give the PERMISSIVE→DISABLE step of another scenario: not in force.
	w.Settings.Timeout = 200 * time.Millisecond
	err = w.awaitExpectations(t.Context(), "precedence-workload-over-namespace", "foo STRICT, httpbin.foo DISABLE", 0,
		only(stateOf(t, topo, "precedence-workload-over-namespace", 0), httpbinFoo), nil)
	var pe *authcheck.PropagationError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "httpbin-1.foo inbound :8000 is STRICT, want DISABLE") {
		t.Fatalf("err = %v", err)
	}

	// Its probes are not run: each is a failure naming what disagreed.
	s7 := catalogtest.Scenario(t, "precedence-workload-over-namespace")
	e := s7.Steps[0].Expect[0]
	if rec := report.NotInForce(s7, 0, e, pe); rec.Verdict != report.VerdictFail || !strings.HasPrefix(rec.Message, "not probed: the step is not in force") || rec.Observed != nil {
		t.Errorf("record of a probe whose step is not in force: %+v", rec)
	}
	// Sidecars that could not be read say nothing about mTLS: an infrastructure error.
	w.dumps = failingDumps{}
	err = w.awaitExpectations(t.Context(), "precedence-workload-over-namespace", "unreadable", 1, only(BaselineState(topo), httpbinFoo), nil)
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	if rec := report.NotInForce(s7, 0, e, pe); rec.Verdict != report.VerdictInfraError {
		t.Errorf("unreadable sidecars: verdict %s, want %s", rec.Verdict, report.VerdictInfraError)
	}

	// No sidecar anywhere: nothing to wait on, and the record says so.
	if err := w.awaitInForce(t.Context(), "baseline", "no policy", 0, scenarios.State{Injected: map[string]bool{}}, nil); err != nil {
		t.Fatal(err)
	}

	res, err := run.Results()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Propagation) != 4 {
		t.Fatalf("%d propagation records, want 4: %+v", len(res.Propagation), res.Propagation)
	}
	byScenario := map[string]report.PropagationRecord{}
	for _, r := range res.Propagation {
		if r.Step != "unreadable" {
			byScenario[r.Scenario] = r
		}
	}
	strict := byScenario["namespace-strict"]
	if !strict.InForce || strings.Join(strict.Proxies, " ") != "httpbin-1.foo sleep-1.foo" || strict.Step != "foo STRICT" {
		t.Errorf("namespace-strict record: %+v", strict)
	}
	if r := byScenario["precedence-workload-over-namespace"]; r.InForce || !strings.Contains(r.Message, "want DISABLE") {
		t.Errorf("precedence record: %+v", r)
	}
	if r := byScenario["baseline"]; !r.InForce || len(r.Proxies) != 0 || r.Note != authcheck.NoProxies {
		t.Errorf("no-sidecar record: %+v", r)
	}
}

type failingDumps struct{}

func (failingDumps) WorkloadDumps(context.Context, fixtures.Workload) ([]authcheck.ProxyDump, error) {
	return nil, errors.New("exec istio-proxy: no kubelet")
}
