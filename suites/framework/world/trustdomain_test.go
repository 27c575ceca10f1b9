package world

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/fakecurl"
)

// meshExecutor answers each probe's curl as a mesh with no policy in trustDomain would: what the
// oracle predicts, written the way curl and go-httpbin write it (XFCC as Envoy writes it).
type meshExecutor struct {
	topo     *fixtures.Topology
	outcomes map[string]scenarios.Outcome // "client → url"
	mu       sync.Mutex
	calls    int
}

func newMeshExecutor(t *testing.T, topo *fixtures.Topology, trustDomain string) *meshExecutor {
	t.Helper()
	predicted, err := oracle.Predict(oracle.Input{Topology: topo, TrustDomain: trustDomain})
	if err != nil {
		t.Fatal(err)
	}
	m := &meshExecutor{topo: topo, outcomes: map[string]scenarios.Outcome{}}
	for _, p := range predicted {
		target, err := probe.TargetFor(topo, p.Probe)
		if err != nil {
			t.Fatal(err)
		}
		m.outcomes[target.Client.Ref.String()+" → "+target.URL()] = p.Outcome
	}
	return m
}

func (m *meshExecutor) Exec(_ context.Context, client fixtures.Workload, argv []string) (probe.ExecResult, error) {
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	return fakecurl.Render(argv, func(url string) (fakecurl.Response, error) {
		o, ok := m.outcomes[client.Ref.String()+" → "+url]
		if !ok {
			return fakecurl.Response{}, fmt.Errorf("no such probe: %s → %s", client.Ref, url)
		}
		r := fakecurl.Response{HTTPCode: o.HTTPCode, ExitCode: o.ExitCode}
		switch {
		case o.HTTPCode == 200:
			headers := `"Host": ["` + strings.TrimPrefix(strings.TrimSuffix(url, "/headers"), "http://") + `"]`
			if o.MTLS {
				hash := hex.EncodeToString(make([]byte, 32))
				headers += `, "X-Forwarded-Client-Cert": ["By=` + o.XFCC.By + `;Hash=` + hash + `;Subject=\"\";URI=` + o.XFCC.URI + `"]`
			}
			r.Body = `{"headers": {` + headers + `}}`
		case o.HTTPCode != 0:
			r.Body = "upstream connect error or disconnect/reset before headers"
		default:
			r.ErrorMessage = "Recv failure: Connection reset by peer"
		}
		return r, nil
	})
}

// worldIn is a World on a mesh whose trust domain is not cluster.local, probing through the
// fake executor; only what Probe and Baseline read is set.
func worldIn(t *testing.T, trustDomain string) *World {
	t.Helper()
	topo := catalogtest.Topology(t)
	s := settings.Defaults()
	s.TrustDomain = trustDomain
	s.Consecutive = 1
	s.Timeout = 2 * time.Second
	return &World{Settings: s, Topology: topo, Exec: newMeshExecutor(t, topo, trustDomain)}
}

func requireConverged(t *testing.T, what string, expect []scenarios.ProbeOutcome, results map[scenarios.Probe]*probe.Result) {
	t.Helper()
	mtls := 0
	for _, e := range expect {
		r := results[e.Probe]
		if r == nil || !r.Converged {
			t.Errorf("%s: %s did not converge: %v", what, e.Probe, r.Err)
			continue
		}
		if e.MTLS {
			mtls++
			if !strings.HasPrefix(e.XFCC.By, "spiffe://example.org/ns/") || !strings.HasPrefix(e.XFCC.URI, "spiffe://example.org/ns/") {
				t.Errorf("%s: %s expects XFCC %+v, not in example.org", what, e.Probe, *e.XFCC)
			}
		}
	}
	if mtls == 0 {
		t.Fatalf("%s: no mTLS probe, so the trust domain was not exercised", what)
	}
}

// The suite's two expectation paths on a mesh in example.org: a catalog step (written with
// cluster.local IDs) and the baseline it converges back to after each scenario (the oracle's,
// already in the run's trust domain). Each expected SPIFFE ID must be the mesh's, once.
func TestSuiteExpectationsInNonDefaultTrustDomain(t *testing.T) {
	w := worldIn(t, "example.org")
	sc := catalogtest.Scenario(t, "baseline")
	step := sc.Steps[0]
	expect, err := StepExpectations(w.Settings, sc, 0)
	if err != nil {
		t.Fatal(err)
	}
	results, err := w.Probe(t.Context(), expect)
	if err != nil {
		t.Fatal(err)
	}
	requireConverged(t, "catalog step", expect, results)

	baseline, err := w.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	results, err = w.Probe(t.Context(), baseline)
	if err != nil {
		t.Fatal(err)
	}
	requireConverged(t, "baseline", baseline, results)

	// The catalog's own cluster.local expectations are refused, not probed until timeout.
	if _, err := w.Probe(t.Context(), step.Expect); err == nil || !strings.Contains(err.Error(), "outside the run's trust domain example.org") {
		t.Errorf("cluster.local expectations on an example.org mesh: err = %v", err)
	}
}
