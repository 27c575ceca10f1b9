package scenarios_test

import (
	"reflect"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// WithTrustDomain may meet expectations already in the target trust domain (the oracle's, or a
// step rewritten once already): it sets the trust domain of each SPIFFE ID, it never prefixes one.
func TestWithTrustDomainIsIdempotent(t *testing.T) {
	expect := catalogtest.Scenario(t, "baseline").Steps[0].Expect
	once := scenarios.WithTrustDomain(expect, "example.org")
	twice := scenarios.WithTrustDomain(once, "example.org")
	if !reflect.DeepEqual(once, twice) {
		for i := range once {
			if !reflect.DeepEqual(once[i], twice[i]) {
				t.Fatalf("%s: rewritten twice %+v, once %+v", once[i].Probe, twice[i].XFCC, once[i].XFCC)
			}
		}
	}
	mtls := 0
	for i, e := range once {
		if !e.MTLS {
			continue
		}
		mtls++
		server, client := "httpbin", e.From.Name
		want := scenarios.XFCC{By: fixtures.SPIFFEID("example.org", e.To.Namespace, server), URI: fixtures.SPIFFEID("example.org", e.From.Namespace, client)}
		if *e.XFCC != want {
			t.Errorf("%s: XFCC %+v, want %+v", e.Probe, *e.XFCC, want)
		}
		if expect[i].XFCC.By != fixtures.SPIFFEID(fixtures.DefaultTrustDomain, e.To.Namespace, server) {
			t.Errorf("%s: the catalog's expectation was modified in place", e.Probe)
		}
	}
	if mtls == 0 {
		t.Fatal("baseline has no mTLS probe")
	}
	back := scenarios.WithTrustDomain(once, fixtures.DefaultTrustDomain)
	if !reflect.DeepEqual(back, expect) {
		t.Error("rewriting back to cluster.local does not give the catalog's expectations")
	}
}
