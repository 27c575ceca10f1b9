// Package barrier checks the suite's propagation barrier against Istio's own config generator:
// for every step of every catalog scenario, the configuration Istio generates for the step is
// what the barrier waits for, so on a mesh that has pushed the step the barrier returns at its
// first read.
package barrier

import (
	"context"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/tools/istiogen/harness"
)

// generated serves the dumps Istio's generator produced, one sidecar per workload.
type generated map[fixtures.Ref]*authcheck.Dump

func (g generated) WorkloadDumps(_ context.Context, wl fixtures.Workload) ([]authcheck.ProxyDump, error) {
	d := g[wl.Ref]
	if d == nil {
		return nil, nil
	}
	return []authcheck.ProxyDump{{Pod: wl.Ref.String(), Dump: d}}, nil
}

func TestBarrierAcceptsWhatIstioGenerates(t *testing.T) {
	topo := catalogtest.Topology(t)
	catalog := catalogtest.Catalog(t)
	for _, s := range catalog {
		for i, step := range s.Steps {
			t.Run(s.Name+"/"+step.Name, func(t *testing.T) {
				st := s.StateAt(topo, i)
				gen, err := harness.Generate(t, oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Injected})
				if err != nil {
					t.Fatal(err)
				}
				want, err := authcheck.Expectations(topo, st)
				if err != nil {
					t.Fatal(err)
				}
				b := authcheck.Barrier{Source: generated(gen.Dumps), Timeout: 50 * time.Millisecond, Interval: 10 * time.Millisecond}
				p, err := b.Await(t.Context(), want, nil)
				if err != nil {
					t.Fatalf("Istio's configuration for the step does not satisfy the barrier: %v", err)
				}
				if p.Polls != 1 || len(p.Proxies) != len(want) {
					t.Errorf("polls %d, proxies %v: want 1 read of %d sidecars", p.Polls, p.Proxies, len(want))
				}
			})
		}
	}
}
