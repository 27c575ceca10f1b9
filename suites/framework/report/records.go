package report

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/wire"
)

// Every row of results.json is built in this file, from what produced it: a probe the engine
// converged (FromProbeResult), a probe that did not run (Skipped) or whose step never came into
// force (NotInForce), a cell captured on the wire (FromWire, WireSkipped), and a pair the upgrade's
// background prober counted (FromPairCounts). The suites and the engine only hand records to
// Run.Record, so a verdict means the same wherever it was reached.

// stderrLines is how much of curl's stderr a record keeps: curl says what failed in one line.
const stderrLines = 3

// FromProbeResult turns the probe engine's verdict on one probe into its record: pass when it
// converged; infrastructure-error when curl could not run (probe.ErrInfrastructure), since that
// says nothing about mTLS; fail otherwise. The observation is the last attempt's.
func FromProbeResult(scenario, step string, stepIndex int, r *probe.Result) ProbeRecord {
	target := r.Probe.Target
	to, err := fixtures.ParseRef(target.Host)
	if err != nil {
		// A host that is not name.namespace (a test target): keep it whole as the name.
		to = fixtures.Ref{Name: target.Host, Namespace: "-"}
	}
	rec := ProbeRecord{
		Scenario:  scenario,
		Step:      step,
		StepIndex: stepIndex,
		From:      target.Client.Ref,
		To:        to,
		Port:      target.Port,
		Expected:  r.Probe.Expected,
		Attempts:  r.Attempts,
		ElapsedMs: r.Elapsed.Milliseconds(),
	}
	if last := r.Last; last != nil && last.Err == nil {
		rec.Observed = observedFrom(last)
	}
	switch {
	case r.Converged:
		rec.Verdict = VerdictPass
		rec.ConvergeMs = r.StableAfter.Milliseconds()
	case errors.Is(r.Err, probe.ErrInfrastructure) || (r.Last != nil && r.Last.Err != nil):
		rec.Verdict = VerdictInfraError
	default:
		rec.Verdict = VerdictFail
	}
	if r.Err != nil {
		rec.Message = r.Err.Error()
	}
	return rec
}

func observedFrom(o *probe.Observation) *Observed {
	out := &Observed{ExitCode: o.ExitCode, HTTPCode: o.HTTPCode, MTLS: len(o.XFCC) > 0}
	lines := strings.Split(strings.TrimSpace(o.Stderr), "\n")
	out.Stderr = strings.Join(lines[:min(len(lines), stderrLines)], "\n")
	switch {
	case len(o.XFCC) == 0:
	case len(o.XFCC) == 1 && o.XFCCErr == nil && len(o.XFCCElements) == 1:
		e := o.XFCCElements[0]
		out.XFCC = &ObservedXFCC{By: strings.Join(e.By, ","), URI: strings.Join(e.URI, ","), Hash: e.Hash}
	default:
		// Several headers, several elements, or one that does not parse: keep it as received.
		out.XFCC = &ObservedXFCC{Raw: strings.Join(o.XFCC, ", ")}
	}
	return out
}

// Skipped is the record of a probe that did not run, with the reason (a failed step, a mesh-wide
// scenario on a cluster the suite did not create). Probes that ran are recorded with
// FromProbeResult.
func Skipped(s *scenarios.Scenario, stepIndex int, expected scenarios.ProbeOutcome, reason string) ProbeRecord {
	return notRun(s, stepIndex, expected, VerdictSkipped, reason)
}

// NotInForce is the record of a probe that was not run because its step never came into force on
// every sidecar: a sidecar that could not be read says nothing about mTLS (an infrastructure
// error); a sidecar whose configuration disagreed with the prediction fails the probe.
func NotInForce(s *scenarios.Scenario, stepIndex int, expected scenarios.ProbeOutcome, err *authcheck.PropagationError) ProbeRecord {
	verdict := VerdictFail
	if err.Unreadable() {
		verdict = VerdictInfraError
	}
	return notRun(s, stepIndex, expected, verdict, "not probed: "+err.Error())
}

func notRun(s *scenarios.Scenario, stepIndex int, expected scenarios.ProbeOutcome, verdict Verdict, message string) ProbeRecord {
	return ProbeRecord{
		Scenario: s.Name, Step: s.Steps[stepIndex].Name, StepIndex: stepIndex,
		From: expected.From, To: expected.To, Port: expected.Port, Expected: expected.Outcome,
		Verdict: verdict, Message: message, Time: time.Now().UTC(),
	}
}

// The wire cells' place in results.json and summary.md: scenario "wire", one step for the HTTP
// matrix and one for the TCP probes, both at the baseline.
const (
	WireScenario = "wire"
	wireStepHTTP = "baseline, HTTP"
	wireStepTCP  = "baseline, TCP"
)

// FromWire is a wire cell's record: pass when the wire showed what the oracle expects (and, for
// TCP, the echo answered as expected), fail when it showed something else, infrastructure-error
// when nothing was judged. The expected and observed wire are in the message with the verdict's
// detail and curl's exit code.
func FromWire(req wire.Request, expect oracle.WireOutcome, r wire.Result) ProbeRecord {
	rec := wireCell(req)
	want := string(expect.Wire)
	got := string(r.Verdict.Kind)
	if req.TCP {
		want += map[bool]string{true: ", echo", false: ", no echo"}[expect.Echo]
		got += map[bool]string{true: ", echo", false: ", no echo"}[r.Echoed]
	}
	switch {
	case r.Err != nil:
		rec.Verdict = VerdictInfraError
		rec.Message = fmt.Sprintf("wire: expected %s; %v", want, r.Err)
		return rec
	case want == got:
		rec.Verdict = VerdictPass
	default:
		rec.Verdict = VerdictFail
	}
	rec.Message = fmt.Sprintf("wire: expected %s, observed %s — %s (curl exit %d)", want, got, r.Verdict, r.ExitCode)
	return rec
}

// WireSkipped is the record of a wire cell that was not captured, with the reason (no
// ALLOW_CAPTURE on an existing cluster).
func WireSkipped(req wire.Request, reason string) ProbeRecord {
	rec := wireCell(req)
	rec.Verdict, rec.Message = VerdictSkipped, "not run: "+reason
	return rec
}

func wireCell(req wire.Request) ProbeRecord {
	rec := ProbeRecord{Scenario: WireScenario, Step: wireStepHTTP, From: req.Client.Ref, To: req.Service, Port: req.Port, Attempts: 1}
	if req.TCP {
		rec.Step, rec.StepIndex = wireStepTCP, 1
	}
	return rec
}

// PairCounts is what the upgrade's background prober counted on one pair over the whole run.
type PairCounts struct {
	Name     string
	From, To fixtures.Ref
	Port     int
	Expected scenarios.Outcome
	// Requests were sent; Unexpected observed another outcome than Expected; InfraErrors could
	// not be made at all.
	Requests, Unexpected, InfraErrors int
	// FirstUnexpected is the first unexpected outcome, nil when there was none.
	FirstUnexpected *Observed
}

// FromPairCounts is a background prober's pair as a record: pass when the run stayed within its
// error budget (runUnexpected, over every pair, at most budget) or the pair saw nothing
// unexpected, fail otherwise, infrastructure-error when the pair observed nothing. Attempts is the
// number of requests; Observed the first unexpected outcome.
func FromPairCounts(scenario, step string, p PairCounts, runUnexpected, budget int, started, ended time.Time) ProbeRecord {
	rec := ProbeRecord{
		Scenario: scenario, Step: step, From: p.From, To: p.To, Port: p.Port, Expected: p.Expected,
		Attempts: p.Requests, ElapsedMs: ended.Sub(started).Milliseconds(), Time: ended,
		Observed: p.FirstUnexpected,
	}
	switch {
	case p.Requests-p.InfraErrors == 0:
		rec.Verdict = VerdictInfraError
	case p.Unexpected == 0 || runUnexpected <= budget:
		rec.Verdict = VerdictPass
	default:
		rec.Verdict = VerdictFail
	}
	rec.Message = fmt.Sprintf("%s: %d of %d requests got an unexpected outcome, %d could not be made (error budget %d for the whole run)",
		p.Name, p.Unexpected, p.Requests, p.InfraErrors, budget)
	return rec
}
