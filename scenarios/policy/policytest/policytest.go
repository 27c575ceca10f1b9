// Package policytest gives tests their policies and fails the test when it cannot: the policy
// YAML a test writes inline, decoded (the oracle's tests and Istio's generator's in
// tools/istiogen start from the same documents), and the corpus of policies Istio rejects
// (scenarios/testdata/invalid), which the policy decoder and the scenario loader must both reject.
package policytest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
)

// Objects is the objects of yaml, in document order; "" is no policy (nil).
func Objects(t testing.TB, yaml string) []policy.Object {
	t.Helper()
	if yaml == "" {
		return nil // no policy
	}
	objs, err := policy.Decode([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// Invalid is one file of the corpus: a policy Istio's CRDs reject, and the rejection its header
// lines name ("# istio-message: ...", "# istio-field: ...").
type Invalid struct {
	Path    string // as found under the dir given to InvalidPolicies
	Data    []byte
	Message string // Istio's message, the text a loader must report
	Field   string // the field path Istio names ("" when the header has none)
}

var invalidHeader = regexp.MustCompile(`(?m)^# istio-(message|field): (.+)$`)

// InvalidPolicies reads every *.yaml in dir (scenarios/testdata/invalid, relative to the test's
// package); none, or a file without its istio-message line, fails the test.
func InvalidPolicies(t testing.TB, dir string) []Invalid {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no invalid policies found in %s: %v", dir, err)
	}
	var out []Invalid
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c := Invalid{Path: path, Data: data}
		for _, m := range invalidHeader.FindAllStringSubmatch(string(data), -1) {
			if m[1] == "message" {
				c.Message = m[2]
			} else {
				c.Field = m[2]
			}
		}
		if c.Message == "" {
			t.Fatalf("%s: no # istio-message: line", path)
		}
		out = append(out, c)
	}
	return out
}
