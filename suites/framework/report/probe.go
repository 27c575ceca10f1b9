package report

import (
	"errors"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
)

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
