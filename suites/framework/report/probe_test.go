package report

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/fakecurl"
)

// fakeCurl answers the probe engine's curl command the way curl and go-httpbin would: the
// /headers body, then curl's -w output (fakecurl).
type fakeCurl struct {
	xfcc     []string
	httpCode int
	exit     int
	stderr   string
	err      error
}

func (f fakeCurl) Exec(_ context.Context, _ fixtures.Workload, argv []string) (probe.ExecResult, error) {
	if f.err != nil {
		return probe.ExecResult{}, f.err
	}
	res, err := fakecurl.Render(argv, func(string) (fakecurl.Response, error) {
		r := fakecurl.Response{HTTPCode: f.httpCode, ExitCode: f.exit, ErrorMessage: f.stderr}
		if f.httpCode == 200 {
			headers := map[string][]string{"Host": {"httpbin.foo:8000"}}
			if f.xfcc != nil {
				headers["X-Forwarded-Client-Cert"] = f.xfcc
			}
			data, _ := json.Marshal(map[string]any{"headers": headers})
			r.Body = string(data)
		}
		return r, nil
	})
	return res, err
}

const clientHash = "3d5ae0b5b0f3c6a1f0f23d6e7b5a0a4c1b2f6e8d9c0a1b2c3d4e5f60718293a4"

func converge(t *testing.T, exec probe.Executor, expected scenarios.Outcome) *probe.Result {
	t.Helper()
	sleep := fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "foo"}, Container: "sleep", PodLabels: map[string]string{"app": "sleep"}}
	target := probe.Target{Client: sleep, Host: "httpbin.foo", Port: 8000}
	return probe.Converge(context.Background(), exec, target, expected,
		probe.Options{Consecutive: 3, Interval: time.Millisecond, Timeout: 100 * time.Millisecond})
}

func TestFromProbeResultPass(t *testing.T) {
	expected, _ := scenarios.ClassMTLS.Outcome("spiffe://cluster.local/ns/foo/sa/httpbin", "spiffe://cluster.local/ns/foo/sa/sleep")
	header := `By=spiffe://cluster.local/ns/foo/sa/httpbin;Hash=` + clientHash + `;Subject="";URI=spiffe://cluster.local/ns/foo/sa/sleep`
	res := converge(t, fakeCurl{httpCode: 200, xfcc: []string{header}}, expected)
	rec := FromProbeResult("namespace-strict", "foo STRICT", 0, res)
	want := ProbeRecord{
		Scenario: "namespace-strict", Step: "foo STRICT", StepIndex: 0,
		From: fixtures.Ref{Name: "sleep", Namespace: "foo"}, To: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, Port: 8000,
		Expected: expected,
		Observed: &Observed{HTTPCode: 200, MTLS: true, XFCC: &ObservedXFCC{
			By: "spiffe://cluster.local/ns/foo/sa/httpbin", URI: "spiffe://cluster.local/ns/foo/sa/sleep", Hash: clientHash,
		}},
		Attempts: 3, Verdict: VerdictPass,
		ConvergeMs: res.StableAfter.Milliseconds(), ElapsedMs: res.Elapsed.Milliseconds(),
	}
	got, _ := json.Marshal(rec)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Fatalf("record\n%s\nwant\n%s", got, wantJSON)
	}
}

func TestFromProbeResultFail(t *testing.T) {
	reset, _ := scenarios.ClassReset.Outcome("", "")
	res := converge(t, fakeCurl{httpCode: 200}, reset)
	rec := FromProbeResult("namespace-strict", "foo STRICT", 0, res)
	if rec.Verdict != VerdictFail || rec.ConvergeMs != 0 || rec.Attempts < 2 {
		t.Fatalf("verdict %s, convergeMs %d, attempts %d", rec.Verdict, rec.ConvergeMs, rec.Attempts)
	}
	if rec.Observed == nil || rec.Observed.HTTPCode != 200 || rec.Observed.ExitCode != 0 || rec.Observed.MTLS || rec.Observed.XFCC != nil {
		t.Fatalf("observed %+v", rec.Observed)
	}
	if !strings.HasPrefix(rec.Message, "sleep.foo → httpbin.foo:8000 did not converge") {
		t.Fatalf("message %q", rec.Message)
	}
	if got := VerdictCell(&rec); got != "✘ 200, want 000 (exit 56)" {
		t.Fatalf("cell %q", got)
	}
}

func TestFromProbeResultInfrastructureError(t *testing.T) {
	reset, _ := scenarios.ClassReset.Outcome("", "")
	res := converge(t, fakeCurl{err: errors.New(`pods "sleep-1" not found`)}, reset)
	rec := FromProbeResult("namespace-strict", "foo STRICT", 0, res)
	if rec.Verdict != VerdictInfraError || rec.Observed != nil {
		t.Fatalf("verdict %s, observed %+v; want infrastructure-error and nothing observed", rec.Verdict, rec.Observed)
	}
	if !strings.Contains(rec.Message, `pods "sleep-1" not found`) {
		t.Fatalf("message %q", rec.Message)
	}
}

func TestFromProbeResultKeepsAnUnexpectedXFCCRaw(t *testing.T) {
	expected, _ := scenarios.ClassMTLS.Outcome("spiffe://cluster.local/ns/foo/sa/httpbin", "spiffe://cluster.local/ns/foo/sa/sleep")
	two := []string{"By=spiffe://a;URI=spiffe://b", "By=spiffe://c;URI=spiffe://d"}
	rec := FromProbeResult("s", "t", 0, converge(t, fakeCurl{httpCode: 200, xfcc: two}, expected))
	if rec.Verdict != VerdictFail || rec.Observed == nil || !rec.Observed.MTLS || rec.Observed.XFCC == nil ||
		rec.Observed.XFCC.Raw != "By=spiffe://a;URI=spiffe://b, By=spiffe://c;URI=spiffe://d" || rec.Observed.XFCC.By != "" {
		t.Fatalf("record %+v observed %+v", rec, rec.Observed)
	}
}
