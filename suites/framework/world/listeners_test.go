package world

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/xfcc"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

func TestListenerExpectations(t *testing.T) {
	topo := catalogtest.Topology(t)
	catalog := catalogtest.Catalog(t)
	want := map[string]string{
		"port-level-disable":  "[httpbin.foo:8000=PERMISSIVE httpbin.foo:8080=PERMISSIVE httpbin.bar:8000=STRICT httpbin.bar:8080=DISABLE]",
		"utilities-injection": "[httpbin.foo:8000=STRICT httpbin.foo:8080=STRICT httpbin.bar:8000=PERMISSIVE httpbin.bar:8080=PERMISSIVE]",
	}
	for _, s := range catalog {
		w, ok := want[s.Name]
		if !ok {
			continue
		}
		got, err := ListenerExpectations(topo, s, 0)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, le := range got {
			parts = append(parts, fmt.Sprintf("%s:%d=%s", le.Server.Ref, le.Port, le.Mode))
		}
		if fmt.Sprint(parts) != w {
			t.Errorf("%s: %v, want %s (httpbin.legacy has no sidecar and no listener)", s.Name, parts, w)
		}
		delete(want, s.Name)
	}
	if len(want) > 0 {
		t.Fatalf("scenarios not found: %v", want)
	}
}

// The cross-check flags traffic its server's listener could not have let through, and passes
// over what it cannot judge: a probe that observed nothing, a listener that was not seen.
func TestCrossCheckListeners(t *testing.T) {
	topo := catalogtest.Topology(t)
	s := catalogtest.Scenario(t, "namespace-strict")
	listeners, err := ListenerExpectations(topo, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := ListenerModes{}
	for _, le := range listeners {
		if le.Server.Namespace == "foo" {
			seen.Saw(le.Server.Ref, le.Port, le.Mode)
		}
	}
	ref := func(name, ns string) fixtures.Ref { return fixtures.Ref{Name: name, Namespace: ns} }
	plaintext := &probe.Observation{HTTPCode: 200}
	header := "By=spiffe://cluster.local/ns/legacy/sa/httpbin;URI=spiffe://cluster.local/ns/foo/sa/sleep"
	elements, err := xfcc.Parse(header)
	if err != nil {
		t.Fatal(err)
	}
	mtls := &probe.Observation{HTTPCode: 200, XFCC: []string{header}, XFCCElements: elements}
	strictFoo := scenarios.Probe{From: ref("sleep", "legacy"), To: ref("httpbin", "foo"), Port: 8000}
	noSidecar := scenarios.Probe{From: ref("sleep", "foo"), To: ref("httpbin", "legacy"), Port: 8000}
	unseen := scenarios.Probe{From: ref("sleep", "legacy"), To: ref("httpbin", "bar"), Port: 8000}
	blind := scenarios.Probe{From: ref("sleep", "legacy"), To: ref("httpbin", "foo"), Port: 8080}
	results := map[scenarios.Probe]*probe.Result{
		strictFoo: {Last: plaintext},
		noSidecar: {Last: mtls},
		unseen:    {Last: mtls},
		blind:     {Last: &probe.Observation{Err: errors.New("exec failed")}},
	}
	var expect []scenarios.ProbeOutcome
	for _, p := range []scenarios.Probe{strictFoo, noSidecar, unseen, blind} {
		expect = append(expect, scenarios.ProbeOutcome{Probe: p})
	}
	got := CrossCheckListeners(topo, s, 0, expect, results, seen)
	var texts []string
	for _, err := range got {
		texts = append(texts, err.Error())
	}
	if len(got) != 2 || !strings.Contains(texts[0], strictFoo.String()) || !strings.Contains(texts[0], "STRICT") ||
		!strings.Contains(texts[1], noSidecar.String()) || !strings.Contains(texts[1], "no sidecar") {
		t.Fatalf("disagreements %q, want the plaintext 200 on STRICT httpbin.foo and the mTLS 200 on httpbin.legacy", texts)
	}
}
