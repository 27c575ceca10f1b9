package main

import (
	"strings"
	"testing"
)

// TestPredictReadsALastLineOfBufferSize: a policy file of one line of exactly 4096·k bytes
// without a trailing newline is the policy it says, never the baseline (issue 10 item 9).
func TestPredictReadsALastLineOfBufferSize(t *testing.T) {
	const flow = "{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: default, namespace: foo}, spec: {mtls: {mode: STRICT}}}"
	for _, n := range []int{4096, 8192} {
		line := flow[:len(flow)-1] + strings.Repeat(" ", n-len(flow)) + "}"
		out, errOut, code := runCLI(t, "predict", "-o", "json", "-f", writeFile(t, line))
		if code != 0 {
			t.Fatalf("%d bytes: exit %d: %s", n, code, errOut)
		}
		if !strings.Contains(out, `"from": "sleep.legacy",
      "to": "httpbin.foo",
      "port": 8000,
      "exitCode": 56`) {
			t.Fatalf("%d bytes: foo STRICT must reset sleep.legacy → httpbin.foo:\n%s", n, out)
		}
	}
}

// TestPredictSaysWhatTheInputIs: input that holds no policy is exit 2 and one line naming what
// it holds, by kind.
func TestPredictSaysWhatTheInputIs(t *testing.T) {
	cases := map[string]struct{ input, want string }{
		"empty file": {"", "empty input: no PeerAuthentication or DestinationRule documents"},
		"{}":         {"{}\n", "document 1: {}: an empty object"},
		"ConfigMap":  {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: foo}\ndata: {a: b}\n", `document 1: kind: "ConfigMap" is not supported`},
		"List":       {"apiVersion: v1\nkind: List\nitems: []\n", `document 1: kind: "List" is not supported`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "predict", "-f", writeFile(t, c.input))
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, errOut, c.want)
			}
		})
	}
}

// TestPredictDestinationRuleScope: a DestinationRule exported only to legacy does not reach
// foo (issue 10 item 8); a field the oracle does not model is exit 2 naming it.
func TestPredictDestinationRuleScope(t *testing.T) {
	const policies = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: bar}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: plaintext-for-legacy, namespace: bar}
spec:
  host: httpbin.bar.svc.cluster.local
  exportTo: [legacy]
  trafficPolicy: {tls: {mode: DISABLE}}
`
	out, errOut, code := runCLI(t, "predict", "-o", "json", "-f", writeFile(t, policies))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"from": "sleep.foo",
      "to": "httpbin.bar",
      "port": 8000,
      "exitCode": 0,
      "httpCode": 200,
      "mtls": true`) {
		t.Fatalf("a rule exported only to legacy must leave sleep.foo → httpbin.bar on mTLS:\n%s", out)
	}
	subsets := "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d, namespace: bar}\nspec: {host: httpbin, subsets: [{name: v1, labels: {version: v1}}]}\n"
	out, errOut, code = runCLI(t, "predict", "-f", writeFile(t, subsets))
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "DestinationRule bar/d: spec.subsets: not modelled by the oracle") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
