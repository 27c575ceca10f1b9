// Package suites_test checks the e2e suites without a cluster: their Ginkgo dry run must list
// every catalog scenario and every probe, with the labels users filter on.
package suites_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/dryrun"
)

func TestMTLSDryRunListsEveryProbe(t *testing.T) {
	its, out, err := dryrun.List("./mtls", t.TempDir())
	if err != nil {
		t.Fatalf("ginkgo --dry-run: %v\n%s", err, out)
	}
	catalog := catalogtest.Catalog(t)
	topo := catalogtest.Topology(t)
	// The v1alpha1 discovery spec, the XFCC hash spec, and a certificate spec per injected workload.
	want := 2
	for _, w := range append(append([]fixtures.Workload{}, topo.Clients...), topo.Servers...) {
		if ns, _ := topo.Namespace(w.Namespace); ns.Injected() {
			want++
		}
	}
	for _, s := range catalog {
		for i, step := range s.Steps {
			listeners, err := world.ListenerExpectations(topo, s, i)
			if err != nil {
				t.Fatal(err)
			}
			// A scenario skipped on sidecars names its (skipped) probe specs by its ambient
			// expectations (world.StepExpectations).
			expect := step.Expect
			if s.SidecarSkip != "" {
				expect = s.Ambient.Expect[i]
			}
			// one per probe + one per sidecar server port + the cross-check.
			want += len(expect) + len(listeners) + 1
			for _, le := range listeners {
				name := fmt.Sprintf("%s inbound :%d is %s (listener)", le.Server.Ref, le.Port, le.Mode)
				if !slices.ContainsFunc(its, func(it dryrun.Spec) bool {
					return strings.Contains(it.Text, "["+s.Name+"]") && strings.Contains(it.Text, step.Name) && strings.HasSuffix(it.Text, name) && slices.Contains(it.Labels, "listener")
				}) {
					t.Errorf("%s step %d: no listener spec %q", s.Name, i, name)
				}
			}
			for _, e := range expect {
				found := false
				for _, it := range its {
					if strings.Contains(it.Text, "["+s.Name+"]") && strings.Contains(it.Text, step.Name) && strings.HasSuffix(it.Text, e.SpecName()) {
						found = true
						for _, l := range s.Labels() {
							if !slices.Contains(it.Labels, l) {
								t.Errorf("%s step %d %s: label %q missing (has %v)", s.Name, i, e.Probe, l, it.Labels)
							}
						}
						break
					}
				}
				if !found {
					t.Errorf("%s step %d: no spec %q", s.Name, i, e.SpecName())
				}
			}
		}
	}
	// The wire specs: the sanity pair, every HTTP probe and every TCP probe once.
	wire := 0
	for _, it := range its {
		if slices.Contains(it.Labels, "wire") {
			wire++
		}
	}
	if wantWire := 1 + len(scenarios.Matrix(topo)) + len(oracle.TCPMatrix(topo)); wire != wantWire {
		t.Errorf("%d wire specs, want %d (sanity + HTTP matrix + TCP probes)", wire, wantWire)
	}
	want += wire
	if len(its) != want {
		t.Errorf("%d specs, want %d", len(its), want)
	}
	// Labels users filter on, as the README lists them.
	all := map[string]bool{}
	for _, it := range its {
		for _, l := range it.Labels {
			all[l] = true
		}
	}
	for _, l := range []string{"level:mesh", "level:namespace", "level:workload", "level:port", "destinationrule", "xfcc", "injection", "precedence", "migration", "waypoint", "v1alpha1", "listener", "certificate", "wire"} {
		if !all[l] {
			t.Errorf("no spec carries label %q", l)
		}
	}
}
