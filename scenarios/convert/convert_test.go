package convert

import (
	"os"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
)

// TestSeed002Hipster converts the seed's own example and compares with the file a reviewer can
// read; the result must also pass Istio's validation when read back.
func TestSeed002Hipster(t *testing.T) {
	in, err := os.ReadFile("testdata/seed002-hipster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Convert(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := YAML(objs)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/seed002-hipster.converted.yaml")
	if string(got) != string(want) {
		t.Fatalf("converted:\n%s\nwant:\n%s", got, want)
	}
	back, err := policy.Decode(got)
	if err != nil || len(back) != 2 {
		t.Fatalf("converted output does not read back: %v", err)
	}
}

func TestConvert(t *testing.T) {
	head := "apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: p, namespace: foo}\nspec:\n"
	cases := []struct {
		name, yaml string
		opts       Options
		want       string // substring of the YAML output, or of the error
		wantErr    bool
	}{
		{"PERMISSIVE", head + "  peers: [{mtls: {mode: PERMISSIVE}}]\n", Options{}, "mode: PERMISSIVE", false},
		{"mtls without mode is STRICT", head + "  peers: [{mtls: {}}]\n", Options{}, "mode: STRICT", false},
		{"mtls null is STRICT", head + "  peers:\n  - mtls:\n", Options{}, "mode: STRICT", false},
		{"no peers is DISABLE", head + "  {}\n", Options{}, "mode: DISABLE", false},
		{"MeshPolicy goes to the root namespace", "apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\nspec: {peers: [{mtls: {}}]}\n", Options{}, "namespace: istio-system", false},
		{"target with selector", head + "  targets: [{name: httpbin}]\n  peers: [{mtls: {}}]\n", Options{Selectors: map[string]map[string]string{"httpbin": {"app": "httpbin"}}}, "app: httpbin", false},
		{"target without selector", head + "  targets: [{name: httpbin}]\n  peers: [{mtls: {}}]\n", Options{}, "document 1 (Policy foo/p): spec.targets[0].name: service \"httpbin\": PeerAuthentication selects pods", true},
		{"target ports", head + "  targets: [{name: httpbin, ports: [{number: 8000}]}]\n", Options{}, "spec.targets[0].ports: v1alpha1 named Service ports", true},
		{"origins", head + "  origins: [{jwt: {issuer: x}}]\n", Options{}, "spec.origins: origin (JWT) authentication has no PeerAuthentication equivalent", true},
		{"jwt peer", head + "  peers: [{jwt: {issuer: x}}]\n", Options{}, "spec.peers[0].jwt", true},
		{"peerIsOptional", head + "  peerIsOptional: true\n  peers: [{mtls: {}}]\n", Options{}, "spec.peerIsOptional", true},
		{"unknown field", head + "  peer: []\n", Options{}, `document 1: json: unknown field "peer"`, true},
		{"bad mode", head + "  peers: [{mtls: {mode: SOMETIMES}}]\n", Options{}, `spec.peers[0].mtls.mode: "SOMETIMES"`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := Convert([]byte(c.yaml), c.opts)
			if c.wantErr {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error = %v, want %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, _ := YAML(objs)
			if !strings.Contains(string(out), c.want) {
				t.Fatalf("output:\n%s\nwant it to contain %q", out, c.want)
			}
		})
	}
}
