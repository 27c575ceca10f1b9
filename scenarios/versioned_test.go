package scenarios_test

import (
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// withVersioned is valid plus versioned blocks for httpbin.bar.
func withVersioned(blocks string) string { return valid + blocks }

// TestVersionedExpectations: a block with since:/until: replaces the unversioned outcome of the
// probes it names, on the minors it holds for, and only there.
func TestVersionedExpectations(t *testing.T) {
	s, err := scenarios.Parse("t.yaml", []byte(withVersioned(`  - to: httpbin.bar
    ports: [8000]
    from: {sleep.foo: "503"}
    since: "1.31"
  - to: httpbin.bar
    ports: [8000]
    from: {sleep.foo: plaintext}
    until: "1.29"
`)), catalogtest.Topology(t))
	if err != nil {
		t.Fatal(err)
	}
	step := s.Steps[0]
	if len(step.Versioned) != 2 || step.Versioned[0].Since != "1.31" || step.Versioned[1].Until != "1.29" {
		t.Fatalf("versioned = %+v", step.Versioned)
	}
	outcome := func(version string) string {
		t.Helper()
		exp, err := step.ExpectFor(version)
		if err != nil {
			t.Fatal(err)
		}
		if len(exp) != 36 {
			t.Fatalf("ExpectFor(%s): %d probes, want 36", version, len(exp))
		}
		for _, po := range exp {
			if po.Probe.String() == "sleep.foo → httpbin.bar:8000" {
				return string(po.Outcome.Class())
			}
		}
		t.Fatal("probe missing")
		return ""
	}
	for version, want := range map[string]string{
		"1.32.0": "503", "1.31": "503", "1.31.0-rc.1": "503", // since 1.31, inclusive
		"1.30.8": "mtls",      // between the two ranges: the unversioned block
		"1.29.9": "plaintext", // until 1.29, inclusive
		"2.0.0":  "503",
	} {
		if got := outcome(version); got != want {
			t.Errorf("ExpectFor(%s) = %s, want %s", version, got, want)
		}
	}
	// The unversioned expectations are untouched, and other probes keep theirs.
	exp, _ := step.ExpectFor("1.31.4")
	for i, po := range exp {
		if po.Probe.String() != "sleep.foo → httpbin.bar:8000" && po.Outcome != step.Expect[i].Outcome {
			t.Errorf("%s changed: %+v", po.Probe, po.Outcome)
		}
	}
	if _, err := step.ExpectFor("1.31.x"); err == nil || !strings.Contains(err.Error(), `"1.31.x" is not an Istio minor`) {
		t.Errorf("ExpectFor(1.31.x) error = %v", err)
	}
}

// TestVersionedErrors: a malformed or contradictory since/until is an error naming the field.
func TestVersionedErrors(t *testing.T) {
	for name, tc := range map[string]struct{ blocks, want string }{
		"since not a minor": {`  - to: httpbin.bar
    from: {sleep.foo: mtls}
    since: "v1.31"
`, `t.yaml: steps[0].expect[3].since: "v1.31" is not an Istio minor such as 1.31`},
		"until not a minor": {`  - to: httpbin.bar
    from: {sleep.foo: mtls}
    until: "latest"
`, `t.yaml: steps[0].expect[3].until: "latest" is not an Istio minor such as 1.31`},
		"until before since": {`  - to: httpbin.bar
    from: {sleep.foo: mtls}
    since: "1.31"
    until: "1.30"
`, `t.yaml: steps[0].expect[3].until: 1.30 is before since 1.31`},
		"overlapping blocks name one probe": {`  - to: httpbin.bar
    ports: [8000]
    from: {sleep.foo: mtls}
    since: "1.30"
  - to: httpbin.bar
    from: {sleep.foo: "503"}
    until: "1.31"
`, `t.yaml: steps[0].expect[4]: sleep.foo → httpbin.bar:8000 is also expected by an earlier block whose since/until overlaps this one's`},
		"unknown client in a versioned block": {`  - to: httpbin.bar
    from: {sleep.nowhere: mtls}
    since: "1.31"
`, `t.yaml: steps[0].expect[3].from: "sleep.nowhere" is not a fixture client`},
		"unknown field": {`  - to: httpbin.bar
    from: {sleep.foo: mtls}
    sinse: "1.31"
`, `unknown field "sinse"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := scenarios.Parse("t.yaml", []byte(withVersioned(tc.blocks)), catalogtest.Topology(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Disjoint ranges may name the same probe.
	if _, err := scenarios.Parse("t.yaml", []byte(withVersioned(`  - to: httpbin.bar
    from: {sleep.foo: mtls}
    until: "1.30"
  - to: httpbin.bar
    from: {sleep.foo: "503"}
    since: "1.31"
`)), catalogtest.Topology(t)); err != nil {
		t.Errorf("disjoint ranges rejected: %v", err)
	}
}
