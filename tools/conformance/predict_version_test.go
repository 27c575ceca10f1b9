package main

import (
	"strings"
	"testing"
)

// TestPredictIstioVersion: predict answers for an Istio version (issue 14 item 2). The oracle
// takes any well-formed one; Istio's generator answers for its own minor only; a malformed one
// is exit 2 naming --istio, with nothing on stdout.
func TestPredictIstioVersion(t *testing.T) {
	f := writeFile(t, "{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: default, namespace: foo}, spec: {mtls: {mode: STRICT}}}\n")
	var outputs []string
	for _, v := range []string{"1.30.8", "1.31.4", "1.32.0"} {
		out, errOut, code := runCLI(t, "predict", "-o", "json", "--istio", v, "-f", f)
		if code != 0 {
			t.Fatalf("--istio %s: exit %d: %s", v, code, errOut)
		}
		outputs = append(outputs, out)
	}
	if outputs[0] != outputs[1] || outputs[1] != outputs[2] {
		t.Error("the oracle's rules for these policies are the same on 1.30, 1.31 and 1.32, the predictions differ")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--istio", "v1.31.4"}, `conformance predict: --istio: invalid Istio version "v1.31.4": write 1.31.4 without the leading v`},
		{[]string{"--istio", "1.31"}, `conformance predict: --istio: invalid Istio version "1.31"`},
		{[]string{"--engine", "istio", "--istio", "1.32.0"}, "conformance predict: --istio 1.32.0: --engine istio is Istio 1.31.0's own generator (tools/istiogen) and answers for 1.31 only; use --engine oracle"},
	} {
		out, errOut, code := runCLI(t, append(append([]string{"predict"}, tc.args...), "-f", f)...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}
