package suites_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/dryrun"
)

// TestMTLSDryRunAmbient is `make list DATAPLANE=ambient`: every scenario spec carries the label
// dataplane:ambient and every step lists the ambient expectations (the file's ambient: block, or
// for a scenario skipped in ambient the oracle's prediction for the enrolled set), and no spec
// reads a sidecar (no listener per server port, no workload certificate): the ambient fixtures
// inject nothing.
func TestMTLSDryRunAmbient(t *testing.T) {
	its, out, err := dryrun.List("./mtls", t.TempDir(), "--", "--dataplane=ambient")
	if err != nil {
		t.Fatalf("ginkgo --dry-run --dataplane=ambient: %v\n%s", err, out)
	}
	catalog := catalogtest.Catalog(t)
	s := settings.Defaults()
	s.Dataplane = settings.DataplaneAmbient
	scenarioSpecs := 0
	for _, sc := range catalog {
		for _, it := range its {
			if strings.Contains(it.Text, "["+sc.Name+"]") {
				scenarioSpecs++
				if !it.HasLabel("dataplane:ambient") || it.HasLabel("dataplane:sidecar") {
					t.Errorf("%s: labels %v, want dataplane:ambient", it.Text, it.Labels)
				}
			}
		}
		for i, step := range sc.Steps {
			expect, err := world.StepExpectations(s, sc, i)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range expect {
				if !slices.ContainsFunc(its, func(it dryrun.Spec) bool {
					return strings.Contains(it.Text, "["+sc.Name+"]") && strings.Contains(it.Text, step.Name) && strings.HasSuffix(it.Text, e.SpecName())
				}) {
					t.Errorf("%s step %d: no spec %q", sc.Name, i, e.SpecName())
				}
			}
		}
	}
	if scenarioSpecs == 0 {
		t.Fatal("no scenario spec listed")
	}
	for _, it := range its {
		if strings.Contains(it.Text, " inbound :") || strings.Contains(it.Text, " presents spiffe://") {
			t.Errorf("a sidecar spec in ambient: %s", it.Text)
		}
	}
	hbone := slices.ContainsFunc(its, func(it dryrun.Spec) bool {
		return strings.HasSuffix(it.Text, "succeeds over mTLS (HBONE, no XFCC at L4)")
	})
	if !hbone {
		t.Error("no spec names an HBONE outcome")
	}
}
