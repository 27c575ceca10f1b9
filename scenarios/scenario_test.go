package scenarios_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// valid is a minimal scenario that parses; each case below breaks one thing.
const valid = `name: t
title: T
level: namespace
sources:
- istio: 'x'
steps:
- name: s
  apply:
  - apiVersion: security.istio.io/v1
    kind: PeerAuthentication
    metadata: {name: default, namespace: foo}
    spec: {mtls: {mode: STRICT}}
  expect:
  - to: httpbin.foo
    from: {sleep.foo: mtls, sleep.bar: mtls, sleep.legacy: reset, curl.utilities: reset}
  - to: httpbin.bar
    from: {sleep.foo: mtls, sleep.bar: mtls, sleep.legacy: plaintext, curl.utilities: plaintext}
  - to: httpbin.legacy
    from: {sleep.foo: plaintext, sleep.bar: plaintext, sleep.legacy: plaintext, curl.utilities: plaintext}
`

func TestParseValid(t *testing.T) {
	s, err := scenarios.Parse("t.yaml", []byte(valid), catalogtest.Topology(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps[0].Expect) != 36 {
		t.Fatalf("expanded %d probes, want 36", len(s.Steps[0].Expect))
	}
	got := s.Steps[0].Expect[0]
	if got.Probe.String() != "sleep.foo → httpbin.foo:8000" || got.XFCC == nil ||
		got.XFCC.By != "spiffe://cluster.local/ns/foo/sa/httpbin" || got.XFCC.URI != "spiffe://cluster.local/ns/foo/sa/sleep" {
		t.Fatalf("first probe = %s %+v", got.Probe, got.Outcome)
	}
	if strings.Join(s.Labels(), ",") != "level:namespace,t,xfcc" {
		t.Fatalf("labels = %v", s.Labels())
	}
}

// TestParseErrors: a malformed scenario is one line naming the file and the field.
func TestParseErrors(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"unknown field", "title: T\n", "title: T\ntitel: x\n", `bad.yaml: json: unknown field "titel"`},
		{"level", "level: namespace", "level: cluster", `bad.yaml: level: "cluster" is not one of`},
		{"no source", "sources:\n- istio: 'x'\n", "", "bad.yaml: sources: every scenario cites at least one source"},
		{"name with space", "name: t\n", "name: two words\n", "bad.yaml: name: required, a single word"},
		{"unknown tag", "level: namespace\n", "level: namespace\ntags: [fast]\n", `bad.yaml: tags[0]: "fast" is not one of`},
		{"unknown class", "sleep.legacy: reset, curl", "sleep.legacy: denied, curl", `bad.yaml: steps[0].expect[0].from[sleep.legacy]: unknown outcome "denied"`},
		{"missing probe", "  - to: httpbin.legacy\n    from: {sleep.foo: plaintext, sleep.bar: plaintext, sleep.legacy: plaintext, curl.utilities: plaintext}\n", "", "bad.yaml: steps[0].expect: sleep.foo → httpbin.legacy:8000 has no expected outcome"},
		{"duplicate probe", "  - to: httpbin.legacy\n", "  - to: httpbin.bar\n    ports: [8000]\n    from: {sleep.foo: mtls}\n  - to: httpbin.legacy\n", "bad.yaml: steps[0].expect[2]: sleep.foo → httpbin.bar:8000 is expected twice"},
		{"bad port", "  - to: httpbin.foo\n", "  - to: httpbin.foo\n    ports: [81]\n", "bad.yaml: steps[0].expect[0].ports: 81 is not a port of Service httpbin.foo"},
		{"unknown client", "sleep.foo: mtls, sleep.bar: mtls, sleep.legacy: reset", "sleep.baz: mtls, sleep.bar: mtls, sleep.legacy: reset", `bad.yaml: steps[0].expect[0].from: "sleep.baz" is not a fixture client`},
		{"unknown service", "to: httpbin.foo", "to: httpbin.baz", `bad.yaml: steps[0].expect[0].to: "httpbin.baz" is not a fixture Service`},
		{"invalid policy", "spec: {mtls: {mode: STRICT}}", "spec: {portLevelMtls: {8080: {mode: STRICT}}}", "bad.yaml: steps[0].apply[0]: PeerAuthentication foo/default: spec: portLevelMtls requires selector"},
		{"delete before apply", "  apply:\n", "  delete: [PeerAuthentication foo/x]\n  apply:\n", `bad.yaml: steps[0].delete[0]: "PeerAuthentication foo/x" is not applied at this point`},
		{"relabel without restart", "  apply:\n", "  namespaces: [{name: utilities, injection: enabled}]\n  apply:\n", "bad.yaml: steps[0].namespaces[0].restart: must be true"},
		{"relabel unknown namespace", "  apply:\n", "  namespaces: [{name: nope, injection: enabled, restart: true}]\n  apply:\n", `bad.yaml: steps[0].namespaces[0].name: "nope" is not a fixture namespace`},
	}
	topo := catalogtest.Topology(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(valid, c.from, c.to, 1)
			if broken == valid {
				t.Fatalf("case does not change the scenario")
			}
			_, err := scenarios.Parse("bad.yaml", []byte(broken), topo)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error = %q\nwant prefix %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

// TestParseRejectsIstioInvalidPolicies: the same invalid set the real apiserver rejects
// (scenarios/testdata/invalid) is rejected by the loader first, with Istio's message.
func TestParseRejectsIstioInvalidPolicies(t *testing.T) {
	topo := catalogtest.Topology(t)
	for _, c := range policytest.InvalidPolicies(t, "testdata/invalid") {
		var obj map[string]any
		if err := yaml.Unmarshal(c.Data, &obj); err != nil {
			t.Fatal(err)
		}
		var s map[string]any
		if err := yaml.Unmarshal([]byte(valid), &s); err != nil {
			t.Fatal(err)
		}
		s["steps"].([]any)[0].(map[string]any)["apply"] = []any{obj}
		scenario, _ := yaml.Marshal(s)
		_, err := scenarios.Parse(filepath.Base(c.Path), scenario, topo)
		if err == nil || !strings.HasSuffix(err.Error(), c.Message) {
			t.Errorf("%s: error = %v, want Istio's %q", c.Path, err, c.Message)
		}
	}
}

func TestStateAtAccumulates(t *testing.T) {
	s := catalogtest.Scenario(t, "migration")
	topo := catalogtest.Topology(t)
	var keys [][]string
	for i := range s.Steps {
		var k []string
		for _, o := range s.StateAt(topo, i).Objects {
			k = append(k, o.Key())
		}
		keys = append(keys, k)
	}
	want := "[] [PeerAuthentication foo/default] [PeerAuthentication foo/default PeerAuthentication istio-system/default] []"
	if got := fmtKeys(keys); got != want {
		t.Fatalf("states = %s, want %s", got, want)
	}
	if !s.MeshWide() {
		t.Fatal("migration touches istio-system and must be mesh-wide")
	}
}

func fmtKeys(keys [][]string) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, "["+strings.Join(k, " ")+"]")
	}
	return strings.Join(parts, " ")
}

func TestInjectionStep(t *testing.T) {
	s := catalogtest.Scenario(t, "utilities-injection")
	topo := catalogtest.Topology(t)
	if s.StateAt(topo, 0).Injected["utilities"] || !s.StateAt(topo, 1).Injected["utilities"] {
		t.Fatal("utilities must be uninjected in step 0 and injected in step 1")
	}
	if !strings.Contains(strings.Join(s.Labels(), ","), "injection") {
		t.Fatal("missing injection label")
	}
	// On the ambient topology the same change enrols utilities; nothing is injected.
	ambient, err := fixtures.LoadFor(fixtures.Variant{Ambient: true})
	if err != nil {
		t.Fatal(err)
	}
	st0, st1 := s.StateAt(ambient, 0), s.StateAt(ambient, 1)
	if fmt.Sprint(st0.Enrolled) != "map[bar:true foo:true]" || fmt.Sprint(st1.Enrolled) != "map[bar:true foo:true utilities:true]" || len(st0.Injected)+len(st1.Injected) != 0 {
		t.Fatalf("ambient: step 0 enrolled %v injected %v, step 1 enrolled %v injected %v", st0.Enrolled, st0.Injected, st1.Enrolled, st1.Injected)
	}
	if st := s.StateAt(topo, 1); len(st.Enrolled) != 0 {
		t.Fatalf("sidecar topology: enrolled %v", st.Enrolled)
	}
}
