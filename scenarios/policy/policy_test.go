package policy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRejectsWhatIstioRejects: every file in scenarios/testdata/invalid is also applied to the
// real apiserver with Istio's CRDs (suites/framework/envtestenv), which must reject it with the
// message in its header; the loader must reject it first, with the same words and field.
func TestRejectsWhatIstioRejects(t *testing.T) {
	files, err := filepath.Glob("../testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid policies found: %v", err)
	}
	header := regexp.MustCompile(`(?m)^# istio-(message|field): (.+)$`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for _, m := range header.FindAllStringSubmatch(string(data), -1) {
				want[m[1]] = m[2]
			}
			_, err = Decode(data)
			if err == nil {
				t.Fatalf("accepted; Istio rejects it with %q", want["message"])
			}
			var perr *Error
			if !asError(err, &perr) {
				t.Fatalf("error %v is not a *policy.Error", err)
			}
			if perr.Msg != want["message"] {
				t.Errorf("message = %q, want Istio's %q", perr.Msg, want["message"])
			}
			if perr.Field != want["field"] {
				t.Errorf("field = %q, want %q", perr.Field, want["field"])
			}
		})
	}
}

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
		{"empty input is no policy", "", "", nil},
		{"only separators", "---\n---\n", "", nil},
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
