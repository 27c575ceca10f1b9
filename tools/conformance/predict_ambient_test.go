package main

import (
	"strings"
	"testing"
)

// TestPredictAmbient: --dataplane ambient answers every probe with the sidecar prediction's
// fields — mesh to mesh mTLS without XFCC, out-of-mesh clients reset by a STRICT namespace —
// and bad values are exit 2 with one line.
func TestPredictAmbient(t *testing.T) {
	file := writeFile(t, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: foo}\nspec: {mtls: {mode: STRICT}}\n")
	_, probes := predictJSON(t, "--dataplane", "ambient", "-f", file)
	if len(probes) != 36 {
		t.Fatalf("%d probes, want 36", len(probes))
	}
	_, sidecar := predictJSON(t, "-f", file)
	for i, probe := range probes {
		for _, k := range []string{"from", "to", "port", "exitCode", "httpCode", "mtls"} {
			if _, ok := probe[k]; !ok {
				t.Fatalf("probe %d lacks %q: %v", i, k, probe)
			}
		}
		if _, ok := probe["xfcc"]; ok {
			t.Errorf("probe %v has XFCC in ambient", probe)
		}
		from, to := probe["from"], probe["to"]
		switch {
		case (from == "sleep.foo" || from == "sleep.bar") && (to == "httpbin.foo" || to == "httpbin.bar"):
			if probe["mtls"] != true || probe["httpCode"] != 200.0 {
				t.Errorf("%v: want mTLS 200", probe)
			}
		case (from == "sleep.legacy" || from == "curl.utilities") && to == "httpbin.foo":
			if probe["exitCode"] != 56.0 || probe["httpCode"] != 0.0 {
				t.Errorf("%v: want reset", probe)
			}
		}
		// Same probe, same order as the sidecar prediction.
		if sidecar[i]["from"] != from || sidecar[i]["to"] != to || sidecar[i]["port"] != probe["port"] {
			t.Fatalf("probe %d differs in order from the sidecar prediction", i)
		}
	}
	table, _, code := runCLI(t, "predict", "--dataplane", "ambient", "-f", file)
	if code != 0 || !strings.Contains(table, "HBONE") {
		t.Errorf("table: exit %d\n%s", code, table)
	}
	for _, args := range [][]string{
		{"predict", "--dataplane", "cilium", "-f", file},
		{"predict", "--dataplane", "ambient", "--engine", "istio", "-f", file},
	} {
		out, errOut, code := runCLI(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, out, errOut)
		}
	}
}
