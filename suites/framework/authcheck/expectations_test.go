package authcheck

import (
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

func expectationFor(t *testing.T, want []ProxyExpectation, ref string) ProxyExpectation {
	t.Helper()
	for _, e := range want {
		if e.Workload.Ref.String() == ref {
			return e
		}
	}
	t.Fatalf("no expectation for %s", ref)
	return ProxyExpectation{}
}

func stateOf(t *testing.T, topo *fixtures.Topology, scenario string, step int) scenarios.State {
	t.Helper()
	catalog, err := scenarios.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range catalog {
		if s.Name == scenario {
			return s.StateAt(topo, step)
		}
	}
	t.Fatalf("no scenario %s", scenario)
	return scenarios.State{}
}

// What the barrier waits for at a step is the oracle's: each sidecar server's mode per workload
// port, and what each sidecar client sends through each Service port's cluster.
func TestExpectations(t *testing.T) {
	topo, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	want, err := Expectations(topo, stateOf(t, topo, "namespace-strict", 0))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, e := range want {
		refs = append(refs, e.Workload.Ref.String())
	}
	// Only workloads with a sidecar: foo and bar are injected, legacy and utilities are not.
	if got := strings.Join(refs, " "); got != "sleep.foo sleep.bar httpbin.foo httpbin.bar" {
		t.Fatalf("proxies = %s", got)
	}
	httpbinFoo := expectationFor(t, want, "httpbin.foo")
	if httpbinFoo.Inbound[8000] != ModeStrict || httpbinFoo.Inbound[8080] != ModeStrict || len(httpbinFoo.Inbound) != 2 || len(httpbinFoo.Outbound) != 0 {
		t.Errorf("httpbin.foo: %+v", httpbinFoo)
	}
	if bar := expectationFor(t, want, "httpbin.bar"); bar.Inbound[8000] != ModePermissive {
		t.Errorf("httpbin.bar: %+v", bar)
	}
	sleepFoo := expectationFor(t, want, "sleep.foo")
	for cluster, mtls := range map[string]bool{
		"outbound|8000||httpbin.foo.svc.cluster.local":    true,
		"outbound|9080||httpbin.foo.svc.cluster.local":    true,
		"outbound|8080||httpbin.bar.svc.cluster.local":    true,
		"outbound|8000||httpbin.legacy.svc.cluster.local": false,
	} {
		if got, ok := sleepFoo.Outbound[cluster]; !ok || got != mtls {
			t.Errorf("sleep.foo %s: mTLS=%v (set %v), want %v", cluster, got, ok, mtls)
		}
	}
	if len(sleepFoo.Outbound) != 9 || len(sleepFoo.Inbound) != 0 {
		t.Errorf("sleep.foo: %d clusters, %d inbound ports; want 9 and 0", len(sleepFoo.Outbound), len(sleepFoo.Inbound))
	}

	// A 503 is mTLS into a server without a sidecar (DestinationRule ISTIO_MUTUAL to legacy) or
	// plaintext into STRICT (DestinationRule DISABLE into bar STRICT).
	want, err = Expectations(topo, stateOf(t, topo, "dr-istio-mutual-to-legacy", 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := expectationFor(t, want, "sleep.bar").Outbound["outbound|8000||httpbin.legacy.svc.cluster.local"]; !got {
		t.Error("sleep.bar must send Istio mTLS to httpbin.legacy under DestinationRule ISTIO_MUTUAL")
	}
	want, err = Expectations(topo, stateOf(t, topo, "dr-disable-into-strict", 0))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := expectationFor(t, want, "sleep.foo").Outbound["outbound|8000||httpbin.bar.svc.cluster.local"]; !ok || got {
		t.Error("sleep.foo must send plaintext to httpbin.bar under DestinationRule DISABLE")
	}

	// A policy documented to have no effect leaves every sidecar as the baseline has it.
	ignored, err := Expectations(topo, stateOf(t, topo, "root-selector-ignored", 0))
	if err != nil {
		t.Fatal(err)
	}
	baseline, err := Expectations(topo, scenarios.State{Injected: map[string]bool{"foo": true, "bar": true}})
	if err != nil {
		t.Fatal(err)
	}
	if !equalExpectations(ignored, baseline) {
		t.Error("root-selector-ignored must expect the baseline's configuration")
	}

	// No namespace injected: no proxy to wait on.
	none, err := Expectations(topo, scenarios.State{Injected: map[string]bool{}})
	if err != nil || len(none) != 0 {
		t.Errorf("no sidecars: %d expectations, %v", len(none), err)
	}
}

func equalExpectations(a, b []ProxyExpectation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Workload.Ref != b[i].Workload.Ref || len(a[i].Inbound) != len(b[i].Inbound) || len(a[i].Outbound) != len(b[i].Outbound) {
			return false
		}
		for k, v := range a[i].Inbound {
			if b[i].Inbound[k] != v {
				return false
			}
		}
		for k, v := range a[i].Outbound {
			if w, ok := b[i].Outbound[k]; !ok || w != v {
				return false
			}
		}
	}
	return true
}
