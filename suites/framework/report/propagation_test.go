package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// Each step's propagation (and each reset to the baseline) is recorded through the run's journal
// and lands in results.json, next to the step's probes, and in summary.md under the step.
func TestPropagationRecordedPerStep(t *testing.T) {
	run, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	probe := ProbeRecord{Scenario: "namespace-strict", Step: "foo STRICT", From: fixtures.Ref{Name: "sleep", Namespace: "legacy"},
		To: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, Port: 8000, Expected: scenarios.Outcome{ExitCode: 56}, Verdict: VerdictPass,
		Observed: &Observed{ExitCode: 56}}
	if err := run.Record(probe); err != nil {
		t.Fatal(err)
	}
	reset := PropagationRecord{Scenario: "namespace-strict", Step: ResetStep, StepIndex: 1,
		Proxies: []string{"httpbin-1.foo", "sleep-1.foo"}, DurationMs: 900, InForce: true, PushSeenOn: "sleep-1.foo"}
	step := PropagationRecord{Scenario: "namespace-strict", Step: "foo STRICT", StepIndex: 0,
		Proxies: []string{"httpbin-1.foo", "httpbin-1.bar", "sleep-1.foo"}, DurationMs: 2350, InForce: true, PushSeenOn: "httpbin-1.foo"}
	for _, rec := range []PropagationRecord{reset, step} {
		if err := run.RecordPropagation(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := run.RecordPropagation(PropagationRecord{Step: "x"}); err == nil {
		t.Error("a propagation record without a scenario was accepted")
	}
	if err := run.Finish(nil); err != nil {
		t.Fatal(err)
	}
	res, err := ReadResults(filepath.Join(run.Dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Propagation) != 2 || res.Propagation[0].Step != "foo STRICT" || res.Propagation[1].Step != ResetStep {
		t.Fatalf("propagation = %+v, want the step then the reset", res.Propagation)
	}
	if got := res.Propagation[0]; got.DurationMs != 2350 || len(got.Proxies) != 3 || !got.InForce || got.Time.IsZero() {
		t.Errorf("step record = %+v", got)
	}
	md, err := os.ReadFile(filepath.Join(run.Dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"### Step 1: foo STRICT — converged in 0s (1 of 1 probes passed, at most 0 attempts)\n\nIn force on 3 sidecars 2.4s after the change (istiod's push seen on httpbin-1.foo); probed after that.\n\n|",
		"Reset to the baseline: in force on 2 sidecars 900ms after the change (istiod's push seen on sleep-1.foo).\n",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
}

func TestPropagationText(t *testing.T) {
	for _, tc := range []struct {
		rec  PropagationRecord
		want string
	}{
		{PropagationRecord{InForce: true, Note: "no proxies"}, "No sidecar to wait on (no proxies)"},
		{PropagationRecord{InForce: true, Proxies: []string{"a.foo"}, DurationMs: 120000, Note: "no sidecar received a new push from istiod within 2m0s"},
			"In force on 1 sidecars 2m0s after the change (no sidecar received a new push from istiod within 2m0s)"},
		{PropagationRecord{Proxies: []string{"a.foo"}, DurationMs: 120000, Message: "the step is not in force on every sidecar within 2m0s:\n  a.foo inbound :8000 is PERMISSIVE, want STRICT"},
			"✘ Not in force on every sidecar after 2m0s"},
		// The ambient barrier's records name ztunnels.
		{PropagationRecord{InForce: true, Proxy: "ztunnel", Proxies: []string{"ztunnel-x.istio-system"}, DurationMs: 1500},
			"In force on 1 ztunnels 1.5s after the change"},
		{PropagationRecord{Proxy: "ztunnel", Proxies: []string{"ztunnel-x.istio-system"}, DurationMs: 120000},
			"✘ Not in force on every ztunnel after 2m0s"},
	} {
		if got := propagationText(&tc.rec); got != tc.want {
			t.Errorf("propagationText(%+v) = %q, want %q", tc.rec, got, tc.want)
		}
	}
}

// The recorded run's propagation, as a person reads it in summary.md.
func TestSummaryShowsPropagation(t *testing.T) {
	md := string(RenderSummary(loadRecorded(t)))
	for _, want := range []string{
		"### Step 1: foo STRICT — ✘ did not converge: 2 of 36 probes did not pass (the others converged within 4.2s)\n\n" +
			"In force on 4 sidecars 2.4s after the change (istiod's push seen on httpbin-6d5f8c7b9-9wzlm.foo); probed after that.\n\n| from",
		"Reset to the baseline: in force on 4 sidecars 1s after the change.\n\n## mesh-strict",
		"Reset to the baseline: ✘ not in force on every sidecar after 2m0s:\n\n  ```\n  the step is not in force on every sidecar within 2m0s:\n" +
			"    httpbin-6d5f8c7b9-9wzlm.foo inbound :8000 is STRICT, want PERMISSIVE\n",
		"In force on 4 sidecars 2m0s after the change (no sidecar received a new push from istiod within 2m0s; the configuration already was the predicted one); probed after that.",
		"Step 3 (lock down the mesh, not probed): no sidecar to wait on (no proxies).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
}

func TestParseResultsChecksPropagation(t *testing.T) {
	for body, want := range map[string]string{
		`{"schemaVersion": 1, "header": {}, "probes": [], "propagation": [{"scenario": "a", "step": "s", "stepIndex": 0, "proxies": [], "durationMs": 1, "inForce": true, "time": "2026-11-05T10:15:05Z"}, {"scenario": "a", "step": "s", "stepIndex": 0, "proxies": [], "durationMs": 2, "inForce": true, "time": "2026-11-05T10:15:06Z"}]}`: "propagation[1]: a / 0 s is recorded twice",
		`{"schemaVersion": 1, "header": {}, "probes": [], "propagation": [{"scenario": "a", "step": "s", "stepIndex": 0, "proxies": [], "durationMs": -1, "inForce": true, "time": "2026-11-05T10:15:05Z"}]}`:                                                                                                                                 "propagation[0]: durationMs -1 is negative",
		`{"schemaVersion": 1, "header": {}, "probes": [], "propagation": [{"scenario": "", "step": "s", "stepIndex": 0, "proxies": [], "durationMs": 1, "inForce": true, "time": "2026-11-05T10:15:05Z"}]}`:                                                                                                                                   "propagation[0]: scenario is empty",
	} {
		if _, err := ParseResults([]byte(body)); err == nil || err.Error() != want {
			t.Errorf("ParseResults: %v, want %q", err, want)
		}
	}
}
