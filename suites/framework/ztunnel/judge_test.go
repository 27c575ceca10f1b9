package ztunnel

import (
	"os"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// TestJudgeConstructedDump: a dump shaped as ztunnel writes it — the static STRICT policy on
// httpbin.foo, a converted port-level policy (STRICT except 8080) on httpbin.bar, legacy not in
// the mesh — gives every outcome class ambient has.
func TestJudgeConstructedDump(t *testing.T) {
	raw, err := os.ReadFile("testdata/constructed.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		from, to string
		port     int
		want     scenarios.Class
		mtls     bool
	}{
		{"foo/sleep-0", "foo/httpbin-0", 8000, scenarios.ClassHBONE, true},
		{"legacy/sleep-0", "foo/httpbin-0", 8000, scenarios.ClassReset, false},
		{"legacy/sleep-0", "bar/httpbin-0", 8000, scenarios.ClassReset, false},
		{"legacy/sleep-0", "bar/httpbin-0", 8080, scenarios.ClassPlaintext, false},
		{"foo/sleep-0", "bar/httpbin-0", 8000, scenarios.ClassHBONE, true},
		{"foo/sleep-0", "legacy/httpbin-0", 8000, scenarios.ClassPlaintext, false},
		{"legacy/sleep-0", "legacy/httpbin-0", 8000, scenarios.ClassPlaintext, false},
	}
	for _, c := range cases {
		fns, fpod, _ := strings.Cut(c.from, "/")
		tns, tpod, _ := strings.Cut(c.to, "/")
		j, err := d.Judge(Probe{ClientNamespace: fns, ClientPod: fpod, ServerNamespace: tns, ServerPod: tpod, TargetPort: c.port})
		if err != nil {
			t.Fatal(err)
		}
		if j.Class != c.want || j.MTLS != c.mtls {
			t.Errorf("%s → %s:%d: %s (mTLS %t, %s), want %s (mTLS %t)", c.from, c.to, c.port, j.Class, j.MTLS, j.Reason, c.want, c.mtls)
		}
	}
}

// TestParseMapForm: older ztunnels wrote workloads and policies as maps keyed by address/name.
func TestParseMapForm(t *testing.T) {
	d, err := Parse([]byte(`{"workloads": {"10.0.0.1": {"name": "a", "namespace": "n", "protocol": "TCP", "workloadIps": ["10.0.0.1"]}},
	  "policies": {"n/p": {"name": "p", "namespace": "n", "scope": "Namespace", "action": "Allow", "rules": []}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Workloads) != 1 || len(d.Policies) != 1 {
		t.Fatalf("got %d workloads, %d policies", len(d.Workloads), len(d.Policies))
	}
	// An ALLOW policy with no rules matches nothing: everything to namespace n is denied.
	if dec := d.Authorize(d.Workloads[0], Connection{DstPort: 80}); dec.Allowed {
		t.Errorf("allow-nothing policy allowed the connection: %s", dec.Reason)
	}
}

func TestParseRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"not JSON":           `{`,
		"no workloads":       `{"policies": []}`,
		"unknown match kind": `{"workloads": [{"name": "a", "namespace": "n", "protocol": "HBONE"}], "policies": [{"name": "p", "namespace": "n", "scope": "Namespace", "action": "Deny", "rules": [[[{"notPrincipals": [{"Regex": "x"}]}]]]}]}`,
	} {
		if _, err := Parse([]byte(raw)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}
