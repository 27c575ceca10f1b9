package report

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

var update = flag.Bool("update", false, "rewrite testdata/summary.md from testdata/results.json")

// testdata/results.json is a recorded run: baseline (all pass), mesh-strict (skipped: not
// allowed mesh-wide), namespace-strict (one fail, one infrastructure error) and two steps of
// migration (one XFCC mismatch).
func loadRecorded(t *testing.T) *Results {
	t.Helper()
	res, err := ReadResults("testdata/results.json")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSummaryGolden(t *testing.T) {
	got := RenderSummary(loadRecorded(t))
	if *update {
		if err := os.WriteFile("testdata/summary.md", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/summary.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("summary.md differs from testdata/summary.md (go test -run TestSummaryGolden -update to accept):\n%s", got)
	}
}

// The golden file is only as good as what it says; these pin the parts a person reads.
func TestSummaryContent(t *testing.T) {
	md := string(RenderSummary(loadRecorded(t)))
	for _, want := range []string{
		"| Istio | 1.31.1 |",
		"| Kubernetes | v1.37.0 |",
		"| Kind node image | `kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5` |",
		"| Cluster mode | kind |",
		"| Topology | documented (foo, bar injected) |",
		"| Finished | 2026-11-05T10:16:07Z (took 1m8s) |",
		"**✘ 39 of 180 probes did not pass** · 141 passed · 2 failed · 1 infrastructure errors · 36 skipped",
		// The seed articles' grid: header row of Service ports, a row per client.
		"| from \\ to | httpbin.foo:8000 | httpbin.foo:8080 | httpbin.foo:9080 | httpbin.bar:8000 | httpbin.bar:8080 | httpbin.bar:9080 | httpbin.legacy:8000 | httpbin.legacy:8080 | httpbin.legacy:9080 |",
		"| sleep.legacy | ✘ 200, want 000 (exit 56) | ✔ 000 (exit 56) | ✔ 000 (exit 56) | ✔ 200 | ✔ 200 | ✔ 200 | ✔ 200 | ✔ 200 | ✔ 200 |",
		"| curl.utilities | ✔ 000 (exit 56) | ✔ 000 (exit 56) | ⚠ no result | ✔ 200 |",
		"| sleep.foo | ✔ 200 🔒 | ✔ 200 🔒 | ✔ 200 🔒 | ✔ 200 🔒 | ✔ 200 🔒 | ✔ 200 🔒 | ✔ 200 | ✔ 200 | ✔ 200 |",
		"| sleep.bar | ✔ 200 🔒 | ✘ 200 🔒, XFCC differs |",
		"| sleep.foo | – skipped |",
		// Catalog order and titles.
		"## namespace-strict — Namespace-wide STRICT in foo\n\n### Step 1: foo STRICT — ✘ did not converge: 2 of 36 probes did not pass (the others converged within",
		"### Step 2: lock down foo — ✘ did not converge: 1 of 36 probes did not pass",
		"### Step 1: no policy — converged in ",
		"### Step 1: mesh STRICT — skipped",
		// First lines of each failure, not all of them.
		"- **sleep.legacy → httpbin.foo:8000** (fail after 120 attempts): expected exit 56, HTTP 000, no XFCC; observed exit 0, HTTP 200, no XFCC\n\n  ```\n  sleep.legacy → httpbin.foo:8000 did not converge within 2m0s: 120 attempts, 3 consecutive matches needed\n",
		"  … 3 more lines in results.json\n  ```",
		"- **curl.utilities → httpbin.foo:9080** (infrastructure-error after 1 attempts): expected exit 56, HTTP 000, no XFCC; observed nothing observed",
		"mismatch: XFCC URI=spiffe://cluster.local/ns/bar/sa/default, want spiffe://cluster.local/ns/bar/sa/sleep",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	// Catalog order: baseline (01) before mesh-strict (02) before namespace-strict (03) before migration (20).
	last := -1
	for _, h := range []string{"## baseline", "## mesh-strict", "## namespace-strict", "## migration"} {
		i := strings.Index(md, h)
		if i <= last {
			t.Errorf("%q is out of catalog order", h)
		}
		last = i
	}
	if strings.Contains(md, "#117 at") {
		t.Error("a failure's excerpt must stop after FailureLines lines")
	}
}

// A run on another topology than the documented one says so in its header: its expectations are
// the oracle's, not the catalog's.
func TestSummarySaysTheTopology(t *testing.T) {
	res := loadRecorded(t)
	res.Header.Topology = "INJECT=none — expectations from the oracle, not the catalog"
	md := string(RenderSummary(res))
	want := "| Cluster mode | kind |\n| Topology | INJECT=none — expectations from the oracle, not the catalog |\n"
	if !strings.Contains(md, want) {
		t.Errorf("summary.md header lacks %q:\n%s", want, md[:strings.Index(md, "## ")])
	}
}

func TestSummaryConvergenceIsSlowestPassingProbe(t *testing.T) {
	res := loadRecorded(t)
	var slowest int64
	for _, p := range res.Probes {
		if p.Scenario == "baseline" {
			slowest = max(slowest, p.ConvergeMs)
		}
	}
	if slowest == 0 {
		t.Fatal("testdata has no baseline convergence times")
	}
	want := "### Step 1: no policy — converged in " + msText(slowest) + " (36 of 36 probes passed, at most 6 attempts)"
	if md := string(RenderSummary(res)); !strings.Contains(md, want) {
		t.Fatalf("want %q in summary", want)
	}
}

func TestVerdictCell(t *testing.T) {
	reset := scenarios.Outcome{ExitCode: 56}
	mtls := scenarios.Outcome{HTTPCode: 200, MTLS: true, XFCC: &scenarios.XFCC{By: "spiffe://a", URI: "spiffe://b"}}
	for _, tc := range []struct {
		rec  ProbeRecord
		want string
	}{
		{ProbeRecord{Verdict: VerdictPass, Expected: reset, Observed: &Observed{ExitCode: 56}}, "✔ 000 (exit 56)"},
		{ProbeRecord{Verdict: VerdictPass, Expected: mtls, Observed: &Observed{HTTPCode: 200, MTLS: true, XFCC: &ObservedXFCC{By: "spiffe://a", URI: "spiffe://b"}}}, "✔ 200 🔒"},
		{ProbeRecord{Verdict: VerdictFail, Expected: reset, Observed: &Observed{HTTPCode: 503}}, "✘ 503, want 000 (exit 56)"},
		{ProbeRecord{Verdict: VerdictFail, Expected: mtls, Observed: &Observed{HTTPCode: 200, MTLS: true, XFCC: &ObservedXFCC{By: "spiffe://a", URI: "spiffe://c"}}}, "✘ 200 🔒, XFCC differs"},
		{ProbeRecord{Verdict: VerdictFail, Expected: mtls}, "✘ no result, want 200 🔒"},
		{ProbeRecord{Verdict: VerdictInfraError, Expected: mtls}, "⚠ no result"},
		{ProbeRecord{Verdict: VerdictSkipped, Expected: mtls}, "– skipped"},
	} {
		if got := VerdictCell(&tc.rec); got != tc.want {
			t.Errorf("VerdictCell(%s) = %q, want %q", tc.rec.Verdict, got, tc.want)
		}
	}
}

func TestSummaryInfrastructureFailures(t *testing.T) {
	res := &Results{Header: Header{RunID: "r1", InfrastructureFailures: []InfraFailure{{
		Step: "install Istio 1.31.1 with Helm", Message: "istiod: context deadline exceeded\nline 2", DurationMs: 300000,
	}}}}
	md := string(RenderSummary(res))
	for _, want := range []string{
		"**✘ setup failed (1 infrastructure failures)** · 0 probes recorded",
		"## Infrastructure failures\n\n- **install Istio 1.31.1 with Helm** failed after 5m0s\n\n  ```\n  istiod: context deadline exceeded\n  line 2\n  ```",
		"| Istio | – |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}

// A run where every probe that ran passed and some were skipped (a scenario that cannot run on
// this topology) passed: the headline says so, not "✘ did not pass".
func TestSummaryHeadlineWithSkippedProbes(t *testing.T) {
	res := loadRecorded(t)
	skipped := 0
	for i := range res.Probes {
		if res.Probes[i].Verdict != VerdictPass {
			res.Probes[i].Verdict = VerdictSkipped
			skipped++
		}
	}
	md := string(RenderSummary(res))
	want := fmt.Sprintf("**✔ all %d probes that ran passed** · %d skipped\n", len(res.Probes)-skipped, skipped)
	if skipped == 0 || !strings.Contains(md, want) {
		t.Errorf("want headline %q (skipped %d) in:\n%s", want, skipped, md[:strings.Index(md, "## ")])
	}
}
