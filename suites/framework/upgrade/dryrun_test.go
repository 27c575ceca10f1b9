package upgrade

import (
	"slices"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/dryrun"
)

// The upgrade suite (suites/upgrade, build tag e2e) must compile and list its specs without a
// cluster: its flags' defaults (N-1 → N from versions.yaml, in place) are enough to build the tree.

type listedSpec = dryrun.Spec

func dryRun(t *testing.T, args ...string) ([]listedSpec, string, error) {
	t.Helper()
	return dryrun.List("../../upgrade", t.TempDir(), args...)
}

func withLabel(specs []listedSpec, label string) []listedSpec {
	var out []listedSpec
	for _, s := range specs {
		if s.HasLabel(label) {
			out = append(out, s)
		}
	}
	return out
}

func containing(specs []listedSpec, sub string) []listedSpec {
	var out []listedSpec
	for _, s := range specs {
		if strings.Contains(s.Text, sub) {
			out = append(out, s)
		}
	}
	return out
}

func TestUpgradeSuiteDryRun(t *testing.T) {
	topo := catalogtest.Topology(t)
	probes := len(scenarios.Matrix(topo))
	defaults, err := DefaultOptions()
	if err != nil {
		t.Fatal(err)
	}
	// Per phase: the sidecar check, then per scenario a converge spec and one spec per probe.
	assert := 1 + probes
	for _, tc := range []struct {
		mode Mode
		args []string
		// scenarios asserted per phase, and the steps between phases
		phases  map[string]int
		actions []string
	}{
		{InPlace, nil,
			map[string]int{"1-before": 2, "2-mixed": 1, "3-after": 2},
			[]string{"starts the background prober", "upgrades the control plane in place: helm upgrade istio-base and istiod to " + defaults.To + " (image tag " + defaults.To + ")",
				"istiod " + defaults.To + " alone serves: rolled out, no " + defaults.From + " pod left",
				"restarts the workloads in bar and foo", "stops the background prober: at most 0 unexpected outcomes"}},
		{Canary, []string{"--", "--mode=canary", "--error-budget=3"},
			map[string]int{"1-before": 2, "2-mixed": 1, "3-cross-revision": 1, "4-new-sidecars": 1, "5-after": 2},
			[]string{"starts the background prober", "installs istiod " + defaults.To + " (image tag " + defaults.To + ") as revision " + defaults.Revision(),
				"istiod " + defaults.To + " serves revision " + defaults.Revision() + " beside the old control plane",
				"moves bar and foo to istio.io/rev=" + defaults.Revision(), "revision " + defaults.Revision() + " injects new pods in bar and foo",
				"restarts the workloads in bar", "restarts the workloads in foo",
				"removes the " + defaults.From + " control plane", "revision " + defaults.Revision() + " alone serves: no " + defaults.From + " pod left",
				"stops the background prober: at most 3 unexpected outcomes"}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			specs, out, err := dryRun(t, tc.args...)
			if err != nil {
				t.Fatalf("ginkgo --dry-run: %v\n%s", err, out)
			}
			want := len(tc.actions)
			for id, n := range tc.phases {
				inPhase := withLabel(specs, "phase:"+id)
				// The last phase also has a second sidecar check and the removal of the policy.
				extra := 1
				if id == "3-after" && tc.mode == InPlace || id == "5-after" {
					extra = 3
				}
				if len(inPhase) != n*assert+extra {
					t.Errorf("phase %s: %d specs, want %d", id, len(inPhase), n*assert+extra)
				}
				want += len(inPhase)
				for _, s := range inPhase {
					if !s.HasLabel("mode:"+string(tc.mode)) || !s.HasLabel("upgrade") {
						t.Errorf("%s: labels %v", s.Text, s.Labels)
					}
				}
				if len(containing(inPhase, "runs the expected sidecars: bar: ")) == 0 {
					t.Errorf("phase %s has no sidecar check", id)
				}
			}
			for _, a := range tc.actions {
				if len(containing(specs, a)) != 1 {
					t.Errorf("no single spec %q", a)
				}
			}
			if len(specs) != want {
				t.Errorf("%d specs, want %d", len(specs), want)
			}
			// Every probe of the matrix is asserted before and after, under STRICT and without policy.
			for _, p := range scenarios.Matrix(topo) {
				for _, id := range []string{"1-before", slices.Max(keys(tc.phases))} {
					if got := len(containing(withLabel(specs, "phase:"+id), " "+p.String()+" ")); got != 2 {
						t.Errorf("phase %s: %s asserted %d times, want 2 (baseline and STRICT)", id, p, got)
					}
				}
			}
			cross := withLabel(specs, "cross-revision")
			if tc.mode == InPlace && len(cross) != 0 {
				t.Errorf("in place has cross-revision specs: %v", cross)
			}
			if tc.mode == Canary {
				// sleep.foo ↔ httpbin.bar and sleep.bar ↔ httpbin.foo on the three Service ports.
				if len(cross) != 6 {
					t.Errorf("%d cross-revision specs, want 6", len(cross))
				}
				for _, s := range cross {
					if !strings.Contains(s.Text, "sleep.foo → httpbin.bar:") && !strings.Contains(s.Text, "sleep.bar → httpbin.foo:") {
						t.Errorf("cross-revision spec between other namespaces: %s", s.Text)
					}
				}
			}
		})
	}
	// Without sidecars (the local kind tier: INJECT=none, one istiod build under two tags) the tree
	// is the same; the canary moves the namespaces a documented run injects.
	t.Run("no sidecars, same version under another tag", func(t *testing.T) {
		specs, out, err := dryRun(t, "--", "--inject=none", "--mode=canary", "--from="+defaults.To, "--to="+defaults.To, "--to-tag="+defaults.To+"-upgrade")
		if err != nil {
			t.Fatalf("ginkgo --dry-run: %v\n%s", err, out)
		}
		rev := RevisionFor(defaults.To)
		for _, a := range []string{"installs istiod " + defaults.To + " (image tag " + defaults.To + "-upgrade) as revision " + rev,
			"moves bar and foo to istio.io/rev=" + rev, "revision " + rev + " injects new pods in bar and foo",
			"revision " + rev + " alone serves: no " + defaults.To + " pod left"} {
			if len(containing(specs, a)) != 1 {
				t.Errorf("no single spec %q", a)
			}
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		_, out, err := dryRun(t, "--", "--from="+defaults.To, "--to="+defaults.From)
		if err == nil || !strings.Contains(out, "upgrade: --to "+defaults.From+" is not newer than --from "+defaults.To) {
			t.Errorf("reversed versions: err=%v\n%s", err, out)
		}
	})
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
