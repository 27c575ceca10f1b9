package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

const policies = `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy, namespace: utilities}
spec:
  host: httpbin.legacy.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
`

// istio-predict must print exactly what `conformance predict -o json` prints for the oracle
// when the two agree, so the CLI can swap engines: same document, same probe order.
func TestSameDocumentAsOraclePredict(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(file, []byte(policies), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-o", "json", "--trust-domain", "example.org", "-f", file, "--inject", "utilities"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	topo := catalogtest.Topology(t)
	objs := policytest.Objects(t, policies)
	injected, err := topo.InjectedWith([]string{"utilities"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := oracle.Predict(oracle.Input{Topology: topo, Objects: objs, Injected: injected, TrustDomain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	var wantDoc bytes.Buffer
	enc := json.NewEncoder(&wantDoc)
	enc.SetIndent("", "  ")
	if err := enc.Encode(prediction{Probes: want}); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != wantDoc.String() {
		t.Errorf("istio-predict:\n%s\noracle:\n%s", stdout.String(), wantDoc.String())
	}
	// The inputs matter: curl.utilities now has a sidecar and its DestinationRule forces mTLS
	// onto legacy, which has none (503); the trust domain shows in XFCC.
	if !strings.Contains(stdout.String(), `"by": "spiffe://example.org/ns/foo/sa/httpbin"`) {
		t.Error("trust domain not applied")
	}
	var doc prediction
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range doc.Probes {
		if p.From.String() == "curl.utilities" && p.To.String() == "httpbin.legacy" && p.HTTPCode != 503 {
			t.Errorf("%s: HTTP %d, want 503 (ISTIO_MUTUAL to a server without a sidecar)", p.Probe, p.HTTPCode)
		}
	}
}

func TestBadInputIsOneLine(t *testing.T) {
	cases := map[string][]string{
		"unknown namespace": {"--inject", "nowhere"},
		"missing file":      {"-f", "/nonexistent/p.yaml"},
		"table output":      {"-o", "table"},
		"positional":        {"extra"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(args, strings.NewReader(""), &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout.Len() != 0 || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 || !strings.HasPrefix(stderr.String(), "istio-predict: ") {
				t.Errorf("stdout %q, stderr %q: want one line on stderr only", stdout.String(), stderr.String())
			}
		})
	}
}
