package policy

import (
	"fmt"
	"strings"
	"testing"
)

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name, yaml, wantErr string
		wantKinds           []string
	}{
		{"all served versions, in order", `
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: a, namespace: foo}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: b, namespace: foo}
spec: {host: httpbin}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: c, namespace: bar}
`, "", []string{"PeerAuthentication foo/a", "DestinationRule foo/b", "PeerAuthentication bar/c"}},
		{"v1alpha1 Policy points to convert", "apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: default, namespace: foo}\n", `"Policy" is not supported`, nil},
		{"v1alpha1 PeerAuthentication version", "apiVersion: authentication.istio.io/v1alpha1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: foo}\n", "conformance convert", nil},
		{"unknown spec field is an error", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo}\nspec: {mtl: {mode: STRICT}}\n", `PeerAuthentication foo/a: spec: `, nil},
		{"bad mode", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo}\nspec: {mtls: {mode: STRCT}}\n", "STRCT", nil},
		{"unknown metadata field", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo, nmae: x}\n", `document 1: json: unknown field "nmae"`, nil},
		{"namespace required", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\n", "document 1: metadata.namespace: Required value", nil},
		{"name required", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {namespace: foo}\n", "document 1: metadata.name: Required value", nil},
		{"host required", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a, namespace: foo}\nspec: {}\n", "DestinationRule foo/a: spec.host: Required value", nil},
		{"second document named in errors", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo}\n---\nkind: Service\n", "document 2: kind:", nil},
		{"malformed YAML", "apiVersion: [\n", "document 1", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := Decode([]byte(c.yaml))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.Key())
			}
			if strings.Join(kinds, ",") != strings.Join(c.wantKinds, ",") {
				t.Fatalf("objects = %v, want %v", kinds, c.wantKinds)
			}
		})
	}
}

// padTo pads a one-line flow-style document with spaces before its closing brace so that the
// line is exactly n bytes long.
func padTo(t *testing.T, line string, n int) string {
	t.Helper()
	if len(line) > n {
		t.Fatalf("line is already %d bytes", len(line))
	}
	return line[:len(line)-1] + strings.Repeat(" ", n-len(line)) + "}"
}

// TestDecodeKeepsLastLineOfBufferSize: apimachinery's YAML reader drops a last line that is
// exactly a multiple of its 4096-byte buffer and has no trailing newline (its LineReader returns
// the line together with io.EOF, and YAMLReader.Read checks EOF before keeping the line). The
// policy must still be read, not silently turned into "no policy".
func TestDecodeKeepsLastLineOfBufferSize(t *testing.T) {
	const flow = "{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: a, namespace: foo}, spec: {mtls: {mode: STRICT}}}"
	for _, n := range []int{4095, 4096, 4097, 8192, 3 * 4096} {
		t.Run(fmt.Sprintf("only line %d bytes", n), func(t *testing.T) {
			objs, err := Decode([]byte(padTo(t, flow, n)))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 || objs[0].PeerAuthentication.Spec.GetMtls().GetMode().String() != "STRICT" {
				t.Fatalf("got %v, want PeerAuthentication foo/a STRICT", objs)
			}
		})
	}
	// A block document whose last line (its spec) is 4096 bytes: dropping it would leave a
	// valid PeerAuthentication without a mode, which is silently a different policy.
	head := "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo}\n"
	for _, n := range []int{4096, 8192} {
		t.Run(fmt.Sprintf("last line of a block document %d bytes", n), func(t *testing.T) {
			objs, err := Decode([]byte(head + padTo(t, "spec: {mtls: {mode: STRICT}}", n)))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 || objs[0].PeerAuthentication.Spec.GetMtls().GetMode().String() != "STRICT" {
				t.Fatalf("got %v with spec %v, want STRICT", objs, objs[0].PeerAuthentication.Spec.GetMtls())
			}
		})
	}
}

// TestDecodeSaysWhatItIs: input that holds no policy is an error that says what it holds, by
// kind, never an empty (baseline) result.
func TestDecodeSaysWhatItIs(t *testing.T) {
	cases := []struct{ name, input, want string }{
		{"empty input", "", "empty input: no PeerAuthentication or DestinationRule"},
		{"only separators and comments", "---\n# nothing\n---\n", "empty input: no PeerAuthentication or DestinationRule"},
		{"empty object", "{}", `document 1: {}: an empty object, not a PeerAuthentication or DestinationRule`},
		{"empty object after a policy", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo}\n---\n{}\n", `document 2: {}: an empty object`},
		{"no kind", "apiVersion: v1\nmetadata: {name: a, namespace: foo}\n", `document 1: kind: missing (want PeerAuthentication or DestinationRule)`},
		{"ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: foo}\ndata: {mode: STRICT}\n", `document 1: kind: "ConfigMap" is not supported (want PeerAuthentication or DestinationRule)`},
		{"List", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: security.istio.io/v1\n  kind: PeerAuthentication\n  metadata: {name: a, namespace: foo}\n", `document 1: kind: "List" is not supported (want PeerAuthentication or DestinationRule, one per document)`},
		{"JSON List", `{"apiVersion": "v1", "kind": "List", "items": []}`, `document 1: kind: "List" is not supported`},
		{"a YAML list", "- a\n- b\n", "document 1: a YAML sequence, not an object"},
		{"a scalar", "hello\n", "document 1: a YAML scalar, not an object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := Decode([]byte(c.input))
			if err == nil {
				t.Fatalf("accepted as %v; want an error containing %q", objs, c.want)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %q, want one line containing %q", err, c.want)
			}
		})
	}
}

// TestDecodeJSONStream: JSON objects one after another are documents in order, as kubectl reads them.
func TestDecodeJSONStream(t *testing.T) {
	in := `{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "a", "namespace": "foo"}}
{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "b", "namespace": "foo"}, "spec": {"host": "httpbin"}}`
	objs, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Key() != "PeerAuthentication foo/a" || objs[1].Key() != "DestinationRule foo/b" {
		t.Fatalf("got %v", objs)
	}
}

// TestDestinationRuleWebhookRules: what istiod's validating webhook rejects in the
// DestinationRule fields the oracle reads (pkg/config/validation/validation.go
// ValidateDestinationRule, validateExportTo, validateWorkloadSelector), with its words.
func TestDestinationRuleWebhookRules(t *testing.T) {
	dr := func(spec string) string {
		return "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d, namespace: bar}\nspec:\n  host: httpbin\n" + spec
	}
	cases := []struct{ name, spec, field, msg string }{
		{"empty trafficPolicy", "  trafficPolicy: {}\n", "spec.trafficPolicy", "traffic policy must have at least one field"},
		{"port-level without port", "  trafficPolicy: {portLevelSettings: [{tls: {mode: DISABLE}}]}\n", "spec.trafficPolicy.portLevelSettings[0]", "portTrafficPolicy must have valid port"},
		{"port-level without settings", "  trafficPolicy: {tls: {mode: DISABLE}, portLevelSettings: [{port: {number: 8000}}]}\n", "spec.trafficPolicy.portLevelSettings[0]", "port traffic policy must have at least one field"},
		{"exportTo none", "  exportTo: [\"~\"]\n", "spec.exportTo", "exportTo ~ (none) is not allowed for Istio configuration objects"},
		{"exportTo not a namespace name", "  exportTo: [Foo]\n", "spec.exportTo", "only .,*, or a valid DNS 1123 label is allowed as exportTo entry"},
		{"exportTo duplicate", "  exportTo: [foo, foo]\n", "spec.exportTo", "duplicate entries in exportTo for entry foo"},
		{"exportTo own namespace and .", "  exportTo: [bar, .]\n", "spec.exportTo", "duplicate entries in exportTo: . and current namespace bar"},
		{"exportTo * and more", "  exportTo: [\"*\", foo]\n", "spec.exportTo", "cannot have both public (*) and non-public exportTo values for a resource"},
		{"selector exported elsewhere", "  workloadSelector: {matchLabels: {app: sleep}}\n  exportTo: [foo]\n", "spec.exportTo", "destination rule with workload selector cannot have exportTo beyond current namespace"},
		{"selector exported twice", "  workloadSelector: {matchLabels: {app: sleep}}\n  exportTo: [., foo]\n", "spec.exportTo", "destination rule with workload selector cannot have multiple entries in exportTo"},
		{"selector empty key", "  workloadSelector: {matchLabels: {\"\": sleep}}\n", "spec.workloadSelector.matchLabels", `empty key is not supported in selector: "=sleep"`},
		{"selector wildcard", "  workloadSelector: {matchLabels: {app: \"sl*\"}}\n", "spec.workloadSelector.matchLabels", `wildcard is not supported in selector: "app=sl*"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(dr(c.spec)))
			var perr *Error
			if !asError(err, &perr) {
				t.Fatalf("error = %v, want a *policy.Error", err)
			}
			if perr.Object != "DestinationRule bar/d" || perr.Field != c.field || perr.Msg != c.msg {
				t.Fatalf("got %q / %q / %q, want %q / %q", perr.Object, perr.Field, perr.Msg, c.field, c.msg)
			}
		})
	}
	for _, ok := range []string{
		"  exportTo: [.]\n", "  exportTo: [bar]\n", "  exportTo: [\"*\"]\n", "  exportTo: [foo, legacy]\n",
		"  workloadSelector: {matchLabels: {app: sleep}}\n  exportTo: [.]\n", "  workloadSelector: {}\n",
	} {
		if _, err := Decode([]byte(dr(ok))); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// TestDecodeFiles: the files' objects in turn; a read error as read gave it, a decode error
// naming the file.
func TestDecodeFiles(t *testing.T) {
	files := map[string]string{
		"a.yaml": "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo}\n",
		"b.yaml": "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: b, namespace: bar}\n",
		"c.yaml": "kind: Policy\n",
	}
	read := func(name string) ([]byte, error) {
		if data, ok := files[name]; ok {
			return []byte(data), nil
		}
		return nil, fmt.Errorf("open %s: no such file", name)
	}
	objs, err := DecodeFiles([]string{"b.yaml", "a.yaml"}, read)
	if err != nil || len(objs) != 2 || objs[0].Key() != "PeerAuthentication bar/b" || objs[1].Key() != "PeerAuthentication foo/a" {
		t.Fatalf("DecodeFiles = %v, %v", objs, err)
	}
	if _, err := DecodeFiles([]string{"a.yaml", "missing.yaml"}, read); err == nil || err.Error() != "open missing.yaml: no such file" {
		t.Errorf("missing file: error %v", err)
	}
	if _, err := DecodeFiles([]string{"a.yaml", "c.yaml"}, read); err == nil || !strings.HasPrefix(err.Error(), "c.yaml: ") {
		t.Errorf("bad file: error %v", err)
	}
}
