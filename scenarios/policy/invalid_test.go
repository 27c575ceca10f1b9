package policy_test

import (
	"path/filepath"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
)

// TestRejectsWhatIstioRejects: every file in scenarios/testdata/invalid is also applied to the
// real apiserver with Istio's CRDs (suites/testsupport/envtestenv), which must reject it with the
// message in its header; the loader must reject it first, with the same words and field. (An
// external test: policytest imports policy.)
func TestRejectsWhatIstioRejects(t *testing.T) {
	for _, c := range policytest.InvalidPolicies(t, "../testdata/invalid") {
		t.Run(filepath.Base(c.Path), func(t *testing.T) {
			_, err := policy.Decode(c.Data)
			if err == nil {
				t.Fatalf("accepted; Istio rejects it with %q", c.Message)
			}
			perr, ok := err.(*policy.Error)
			if !ok {
				t.Fatalf("error %v is not a *policy.Error", err)
			}
			if perr.Msg != c.Message {
				t.Errorf("message = %q, want Istio's %q", perr.Msg, c.Message)
			}
			if perr.Field != c.Field {
				t.Errorf("field = %q, want %q", perr.Field, c.Field)
			}
		})
	}
}
