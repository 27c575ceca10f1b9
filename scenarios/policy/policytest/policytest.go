// Package policytest decodes the policy YAML a test writes inline (policy.Decode) and fails the
// test when it does not decode: the oracle's tests and Istio's generator's (tools/istiogen) start
// from the same documents.
package policytest

import (
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
