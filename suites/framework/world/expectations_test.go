package world

import (
	"reflect"
	"slices"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

func injectSettings(inject, trustDomain string) settings.Settings {
	s := settings.Defaults()
	s.Inject, s.TrustDomain = inject, trustDomain
	return s
}

// With no namespace injected nothing enforces mTLS: namespace STRICT in foo has no sidecar to
// act on, and no client has a sidecar to originate mTLS, so every probe is a plaintext 200 —
// where the catalog, exact for the documented topology only, expects resets and mTLS.
func TestStepExpectationsWithoutSidecarsArePlaintext(t *testing.T) {
	sc := catalogtest.Scenario(t, "namespace-strict")
	got, err := StepExpectations(injectSettings("none", "example.org"), sc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sc.Steps[0].Expect) {
		t.Fatalf("%d expectations, want the matrix's %d", len(got), len(sc.Steps[0].Expect))
	}
	for i, e := range got {
		if e.Probe != sc.Steps[0].Expect[i].Probe {
			t.Fatalf("probe %d is %s, want the matrix order's %s", i, e.Probe, sc.Steps[0].Expect[i].Probe)
		}
		if e.Class() != scenarios.ClassPlaintext || e.ExitCode != 0 || e.HTTPCode != 200 || e.MTLS || e.XFCC != nil {
			t.Errorf("INJECT=none: %s expects %s, want plaintext 200", e.Probe, e.Outcome)
		}
	}
}

// On the documented topology — INJECT unset, or naming the documented namespaces — the
// expectations are the catalog's, in the run's trust domain.
func TestStepExpectationsOnTheDocumentedTopologyAreTheCatalogs(t *testing.T) {
	sc := catalogtest.Scenario(t, "namespace-strict")
	want := scenarios.WithTrustDomain(sc.Steps[0].Expect, "example.org")
	for _, inject := range []string{"", "foo,bar", "bar, foo"} {
		got, err := StepExpectations(injectSettings(inject, "example.org"), sc, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("INJECT=%q: expectations are not the catalog's", inject)
		}
	}
	if !slices.ContainsFunc(want, func(e scenarios.ProbeOutcome) bool { return e.Class() == scenarios.ClassReset }) {
		t.Fatal("namespace-strict expects no reset: the test no longer tells the catalog from no sidecars")
	}
}

// Another topology follows the oracle step by step, from the state the step has in force
// (Scenario.StateAt): with foo alone injected, namespace STRICT in foo still resets the clients
// without a sidecar, sleep.foo reaches httpbin.foo over mTLS, and sleep.bar, now without a
// sidecar, is reset too (the catalog says mTLS). Every catalog step has a prediction.
func TestStepExpectationsFollowTheRunsTopology(t *testing.T) {
	s := injectSettings("foo", "cluster.local")
	sc := catalogtest.Scenario(t, "namespace-strict")
	got, err := StepExpectations(s, sc, 0)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]scenarios.Class{}
	for _, e := range got {
		if e.Port == 8000 {
			classes[e.From.String()+" → "+e.To.String()] = e.Class()
		}
	}
	for pair, want := range map[string]scenarios.Class{
		"sleep.foo → httpbin.foo":    scenarios.ClassMTLS,
		"sleep.bar → httpbin.foo":    scenarios.ClassReset,
		"sleep.legacy → httpbin.foo": scenarios.ClassReset,
		"sleep.foo → httpbin.bar":    scenarios.ClassPlaintext,
	} {
		if classes[pair] != want {
			t.Errorf("INJECT=foo: %s:8000 is %q, want %q", pair, classes[pair], want)
		}
	}
	catalog := catalogtest.Catalog(t)
	for _, inject := range []string{"none", "foo", "foo,bar,legacy,utilities"} {
		for _, sc := range catalog {
			for i := range sc.Steps {
				if _, err := StepExpectations(injectSettings(inject, "cluster.local"), sc, i); err != nil {
					t.Errorf("INJECT=%s: %v", inject, err)
				}
			}
		}
	}
}

// A scenario that relabels a namespace for injection is skipped when INJECT chooses the
// injected namespaces, with a reason naming the value; on the documented topology, and for a
// scenario that changes no injection, it runs.
func TestInjectionFixed(t *testing.T) {
	injection, strict := catalogtest.Scenario(t, "utilities-injection"), catalogtest.Scenario(t, "namespace-strict")
	if !injection.ChangesInjection() || strict.ChangesInjection() {
		t.Fatal("utilities-injection must change injection and namespace-strict must not")
	}
	for _, c := range []struct {
		inject string
		sc     *scenarios.Scenario
		want   string
	}{
		{"none", injection, "changes injection; INJECT=none fixes the injected namespaces"},
		{"foo,utilities", injection, "changes injection; INJECT=foo,utilities fixes the injected namespaces"},
		{"", injection, ""},
		{"foo,bar", injection, ""},
		{"none", strict, ""},
	} {
		err := InjectionFixed(injectSettings(c.inject, "cluster.local"), c.sc)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("INJECT=%q, %s: %q, want %q", c.inject, c.sc.Name, got, c.want)
		}
	}
}

func TestTopologyText(t *testing.T) {
	for inject, want := range map[string]string{
		"":        "documented (foo, bar injected)",
		"bar,foo": "documented (foo, bar injected)",
		"none":    "INJECT=none — expectations from the oracle, not the catalog",
		"foo":     "INJECT=foo — expectations from the oracle, not the catalog",
	} {
		if got := TopologyText(injectSettings(inject, "cluster.local")); got != want {
			t.Errorf("INJECT=%q: %q, want %q", inject, got, want)
		}
	}
}
