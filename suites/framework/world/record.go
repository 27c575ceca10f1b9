package world

import (
	"errors"
	"strings"
	"time"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// Record turns a probe's result into its row of results.json.
func Record(s *scenarios.Scenario, stepIndex int, expected scenarios.ProbeOutcome, r *probe.Result) report.ProbeRecord {
	rec := report.ProbeRecord{
		Scenario: s.Name, Step: s.Steps[stepIndex].Name, StepIndex: stepIndex,
		From: expected.From, To: expected.To, Port: expected.Port, Expected: expected.Outcome,
		Time: time.Now().UTC(),
	}
	if r == nil {
		rec.Verdict, rec.Message = report.VerdictSkipped, "not probed: the step before it failed"
		return rec
	}
	rec.Attempts = r.Attempts
	rec.ElapsedMs = r.Elapsed.Milliseconds()
	if obs := r.Last; obs != nil && obs.Err == nil {
		rec.Observed = &report.Observed{ExitCode: obs.ExitCode, HTTPCode: obs.HTTPCode, MTLS: len(obs.XFCC) > 0, Stderr: firstLines(obs.Stderr, 3)}
		if len(obs.XFCCElements) == 1 {
			e := obs.XFCCElements[0]
			rec.Observed.XFCC = &report.ObservedXFCC{By: strings.Join(e.By, ","), URI: strings.Join(e.URI, ","), Hash: e.Hash}
		} else if len(obs.XFCC) > 0 {
			rec.Observed.XFCC = &report.ObservedXFCC{Raw: strings.Join(obs.XFCC, " | ")}
		}
	}
	switch {
	case r.Converged:
		rec.Verdict = report.VerdictPass
		rec.ConvergeMs = r.StableAfter.Milliseconds()
	case errors.Is(r.Err, probe.ErrInfrastructure):
		rec.Verdict, rec.Message = report.VerdictInfraError, r.Err.Error()
	default:
		rec.Verdict = report.VerdictFail
		if r.Err != nil {
			rec.Message = r.Err.Error()
		}
	}
	return rec
}

// Skipped is the record of a probe that did not run, with the reason.
func Skipped(s *scenarios.Scenario, stepIndex int, expected scenarios.ProbeOutcome, reason string) report.ProbeRecord {
	rec := Record(s, stepIndex, expected, nil)
	rec.Message = reason
	return rec
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
