package report

import (
	"errors"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/wire"
)

func TestSkipped(t *testing.T) {
	s := &scenarios.Scenario{Name: "mesh-strict", Steps: []scenarios.Step{{Name: "one"}, {Name: "mesh STRICT"}}}
	reset, _ := scenarios.ClassReset.Outcome("", "")
	e := scenarios.ProbeOutcome{Probe: scenarios.Probe{From: fixtures.Ref{Name: "sleep", Namespace: "legacy"}, To: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, Port: 8000}, Outcome: reset}
	rec := Skipped(s, 1, e, "needs --allow-mesh-wide")
	if rec.Scenario != "mesh-strict" || rec.Step != "mesh STRICT" || rec.StepIndex != 1 || rec.Probe() != e.Probe || rec.Expected != e.Outcome ||
		rec.Verdict != VerdictSkipped || rec.Message != "needs --allow-mesh-wide" || rec.Observed != nil || rec.Time.IsZero() {
		t.Fatalf("record %+v", rec)
	}
}

// A wire cell's record says expected and observed wire side by side; TCP adds the echo.
func TestFromWire(t *testing.T) {
	legacy := fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "legacy"}}
	httpReq := wire.Request{Client: legacy, Service: fixtures.Ref{Name: "httpbin", Namespace: "legacy"}, Port: 8000, TargetPort: 8080}
	tcpReq := httpReq
	tcpReq.TCP, tcpReq.Port = true, 9000
	plain := wire.Verdict{Kind: wire.Plaintext, Detail: "canary in the request"}
	for _, c := range []struct {
		name    string
		req     wire.Request
		expect  oracle.WireOutcome
		r       wire.Result
		verdict Verdict
		step    string
		message string
	}{
		{"HTTP pass", httpReq, oracle.WireOutcome{Wire: oracle.WirePlaintext}, wire.Result{Verdict: plain}, VerdictPass, "baseline, HTTP",
			"wire: expected plaintext, observed plaintext — plaintext: canary in the request (curl exit 0)"},
		{"HTTP fail", httpReq, oracle.WireOutcome{Wire: oracle.WireTLS}, wire.Result{Verdict: plain}, VerdictFail, "baseline, HTTP",
			"wire: expected tls, observed plaintext — plaintext: canary in the request (curl exit 0)"},
		{"TCP echo missing", tcpReq, oracle.WireOutcome{Wire: oracle.WirePlaintext, Echo: true}, wire.Result{Verdict: plain, ExitCode: 28}, VerdictFail, "baseline, TCP",
			"wire: expected plaintext, echo, observed plaintext, no echo — plaintext: canary in the request (curl exit 28)"},
		{"infrastructure", tcpReq, oracle.WireOutcome{Wire: oracle.WireTLS}, wire.Result{Err: errors.New("no capture pod")}, VerdictInfraError, "baseline, TCP",
			"wire: expected tls, no echo; no capture pod"},
	} {
		rec := FromWire(c.req, c.expect, c.r)
		if rec.Scenario != WireScenario || rec.Step != c.step || rec.StepIndex != map[bool]int{false: 0, true: 1}[c.req.TCP] || rec.From != legacy.Ref ||
			rec.To != c.req.Service || rec.Port != c.req.Port || rec.Attempts != 1 || rec.Verdict != c.verdict || rec.Message != c.message {
			t.Errorf("%s: record %+v", c.name, rec)
		}
	}
	if rec := WireSkipped(tcpReq, "ALLOW_CAPTURE is not set"); rec.Verdict != VerdictSkipped || rec.Message != "not run: ALLOW_CAPTURE is not set" || rec.Step != "baseline, TCP" || rec.StepIndex != 1 {
		t.Errorf("skipped cell: %+v", rec)
	}
}

func TestFromPairCounts(t *testing.T) {
	started := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	ended := started.Add(90 * time.Second)
	p := PairCounts{Name: "legacy → STRICT", Requests: 10, Unexpected: 2, InfraErrors: 1, FirstUnexpected: &Observed{HTTPCode: 200}}
	rec := FromPairCounts("disruption", "inplace", p, 2, 1, started, ended)
	if rec.Verdict != VerdictFail || rec.Attempts != 10 || rec.ElapsedMs != 90000 || rec.Time != ended || rec.Observed != p.FirstUnexpected ||
		rec.Message != "legacy → STRICT: 2 of 10 requests got an unexpected outcome, 1 could not be made (error budget 1 for the whole run)" {
		t.Errorf("over budget: %+v", rec)
	}
	if rec := FromPairCounts("disruption", "inplace", p, 2, 2, started, ended); rec.Verdict != VerdictPass {
		t.Errorf("within budget: %s", rec.Verdict)
	}
	blind := PairCounts{Requests: 3, InfraErrors: 3}
	if rec := FromPairCounts("disruption", "inplace", blind, 0, 5, started, ended); rec.Verdict != VerdictInfraError {
		t.Errorf("nothing observed: %s", rec.Verdict)
	}
}
