package world

import (
	"reflect"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// A scenario file that says it is written for the run's topology (`inject: none` on an
// INJECT=none run) is asserted as written — here with its one deliberately wrong expectation —,
// not replaced by the oracle's prediction; on any other topology the oracle's holds.
func TestStepExpectationsOfAFileWrittenForTheRunsTopology(t *testing.T) {
	all, err := scenarios.CatalogWithDir("../../../scenarios/testdata/failing")
	if err != nil {
		t.Fatal(err)
	}
	sc := all[len(all)-1]
	wrong := scenarios.Probe{From: fixtures.Ref{Name: "sleep", Namespace: "legacy"}, To: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, Port: 8000}
	got, err := StepExpectations(injectSettings("none", "cluster.local"), sc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sc.Steps[0].Expect) {
		t.Fatalf("INJECT=none: %s is written for it, its expectations must be used as written", sc.Name)
	}
	for _, e := range got {
		if (e.Probe == wrong) != (e.Class() == scenarios.ClassReset) {
			t.Errorf("%s expects %s", e.Probe, e.Class())
		}
	}
	oracle, err := StepExpectations(injectSettings("foo", "cluster.local"), sc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(oracle, sc.Steps[0].Expect) {
		t.Error("INJECT=foo: the file is not written for it, yet its expectations were used")
	}
}
