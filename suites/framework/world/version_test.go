package world

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// versionedScenarioDir is a scenarios folder holding the test-only failing scenario with one
// versioned block: until Istio 1.30, sleep.legacy → httpbin.foo:8000 is plaintext, not a reset.
func versionedScenarioDir(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../../scenarios/testdata/failing/failing-on-purpose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "name: failing-on-purpose", "name: versioned-on-purpose", 1) + `  - to: httpbin.foo
    ports: [8000]
    from: {sleep.legacy: plaintext}
    until: "1.30"
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "versioned-on-purpose.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStepExpectationsForTheIstioVersion: a run's expectations are the catalog's for the Istio
// it asks for (ISTIO_VERSION, else versions.yaml's default): a since:/until: block replaces the
// outcome it names on the minors it holds for, and only there.
func TestStepExpectationsForTheIstioVersion(t *testing.T) {
	dir := versionedScenarioDir(t)
	all, err := scenarios.CatalogWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := all[len(all)-1]
	legacyToFoo := func(version string) scenarios.Class {
		t.Helper()
		s := injectSettings("none", "cluster.local")
		s.IstioVersion = version
		expect, err := StepExpectations(s, sc, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range expect {
			if e.Probe.String() == "sleep.legacy → httpbin.foo:8000" {
				return e.Class()
			}
		}
		t.Fatal("probe missing")
		return ""
	}
	for version, want := range map[string]scenarios.Class{"1.30.8": scenarios.ClassPlaintext, "1.31.4": scenarios.ClassReset, "": scenarios.ClassReset} {
		if got := legacyToFoo(version); got != want {
			t.Errorf("ISTIO_VERSION=%q: sleep.legacy → httpbin.foo:8000 expects %s, want %s", version, got, want)
		}
	}
}

// TestCheckInstalledVersion: on an existing cluster whose Istio minor changes a step's outcomes
// compared with the version the specs were built for, setup fails naming the step and the
// setting to use; a minor with the same outcomes, and a catalog with no versioned step, pass.
func TestCheckInstalledVersion(t *testing.T) {
	s := injectSettings("none", "cluster.local")
	s.ScenariosDir = versionedScenarioDir(t)
	err := CheckInstalledVersion(s, "1.30.8")
	if err == nil || !strings.Contains(err.Error(), "the cluster runs Istio 1.30.8, whose outcomes for versioned-on-purpose step 1 (foo STRICT, no sidecar to enforce it) differ from") ||
		!strings.HasSuffix(err.Error(), "rerun with ISTIO_VERSION=1.30.8") {
		t.Errorf("1.30.8: %v", err)
	}
	if err := CheckInstalledVersion(s, "1.31.4"); err != nil {
		t.Errorf("1.31.4 has the default's outcomes: %v", err)
	}
	if err := CheckInstalledVersion(s, "custom-build"); err == nil || !strings.Contains(err.Error(), `the installed version "custom-build" is not one`) {
		t.Errorf("unparsable version with a versioned step: %v", err)
	}
	s.ScenariosDir = ""
	if err := CheckInstalledVersion(s, "custom-build"); err != nil {
		t.Errorf("the catalog has no versioned step, any version passes: %v", err)
	}
}
