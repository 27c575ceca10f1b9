// Package suites_test checks the e2e suites without a cluster: their Ginkgo dry run must list
// every catalog scenario and every probe, with the labels users filter on.
package suites_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
)

// dryRun runs `go tool ginkgo --dry-run` on a suite and returns its specs.
func dryRun(t *testing.T, suite string) []types.SpecReport {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "tool", "ginkgo", "--dry-run", "--no-color", "--tags", "e2e",
		"--json-report=dry.json", "--output-dir="+dir, "./"+suite)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ginkgo --dry-run %s: %v\n%s", suite, err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "dry.json"))
	if err != nil {
		t.Fatal(err)
	}
	var reports []types.Report
	if err := json.Unmarshal(data, &reports); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 {
		t.Fatalf("%d suite reports, want 1", len(reports))
	}
	return reports[0].SpecReports
}

func TestMTLSDryRunListsEveryProbe(t *testing.T) {
	specs := dryRun(t, "mtls")
	type spec struct {
		text   string
		labels []string
	}
	var its []spec
	for _, s := range specs {
		if s.LeafNodeType == types.NodeTypeIt {
			its = append(its, spec{strings.Join(append(slices.Clone(s.ContainerHierarchyTexts), s.LeafNodeText), " "), s.Labels()})
		}
	}
	catalog, err := scenarios.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	topo, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
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
			// one per probe + one per sidecar server port + the cross-check.
			want += len(step.Expect) + len(listeners) + 1
			for _, le := range listeners {
				name := fmt.Sprintf("%s inbound :%d is %s (listener)", le.Server.Ref, le.Port, le.Mode)
				if !slices.ContainsFunc(its, func(it spec) bool {
					return strings.Contains(it.text, "["+s.Name+"]") && strings.Contains(it.text, step.Name) && strings.HasSuffix(it.text, name) && slices.Contains(it.labels, "listener")
				}) {
					t.Errorf("%s step %d: no listener spec %q", s.Name, i, name)
				}
			}
			for _, e := range step.Expect {
				found := false
				for _, it := range its {
					if strings.Contains(it.text, "["+s.Name+"]") && strings.Contains(it.text, step.Name) && strings.HasSuffix(it.text, e.SpecName()) {
						found = true
						for _, l := range s.Labels() {
							if !slices.Contains(it.labels, l) {
								t.Errorf("%s step %d %s: label %q missing (has %v)", s.Name, i, e.Probe, l, it.labels)
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
	if len(its) != want {
		t.Errorf("%d specs, want %d", len(its), want)
	}
	// Labels users filter on, as the README lists them.
	all := map[string]bool{}
	for _, it := range its {
		for _, l := range it.labels {
			all[l] = true
		}
	}
	for _, l := range []string{"level:mesh", "level:namespace", "level:workload", "level:port", "destinationrule", "xfcc", "injection", "precedence", "migration", "v1alpha1", "listener", "certificate"} {
		if !all[l] {
			t.Errorf("no spec carries label %q", l)
		}
	}
}
