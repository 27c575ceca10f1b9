// Package catalogtest loads what many tests start from — the documented fixture topology, the
// scenario catalog, one catalog scenario by name — and fails the test when it cannot.
package catalogtest

import (
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// Topology is the documented topology (fixtures.Load).
func Topology(t testing.TB) *fixtures.Topology {
	t.Helper()
	topo, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// Catalog is the scenario catalog (scenarios.Catalog).
func Catalog(t testing.TB) []*scenarios.Scenario {
	t.Helper()
	catalog, err := scenarios.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return catalog
}

// Scenario is the catalog's scenario named name.
func Scenario(t testing.TB, name string) *scenarios.Scenario {
	t.Helper()
	for _, s := range Catalog(t) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %s", name)
	return nil
}
