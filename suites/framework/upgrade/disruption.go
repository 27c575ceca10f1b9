package upgrade

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// DisruptionFile is the background prober's report inside a run folder.
const DisruptionFile = "disruption.json"

// Disruption is what the background prober saw: disruption.json.
type Disruption struct {
	Started time.Time `json:"started"`
	// Stopped is zero while the prober runs.
	Stopped    time.Time    `json:"stopped"`
	IntervalMs int64        `json:"intervalMs"`
	Phases     []PhaseMark  `json:"phases"`
	Pairs      []PairResult `json:"pairs"`
}

// PhaseMark is when a phase began, from the prober's start.
type PhaseMark struct {
	Name string `json:"name"`
	AtMs int64  `json:"atMs"`
}

// PairResult counts one pair's requests.
type PairResult struct {
	Name     string            `json:"name"`
	From     fixtures.Ref      `json:"from"`
	To       fixtures.Ref      `json:"to"`
	Port     int               `json:"port"`
	Expected scenarios.Outcome `json:"expected"`
	// Requests counts every request sent; Unexpected those that observed another outcome than
	// Expected; InfraErrors those that could not be made at all (nothing observed).
	Requests    int `json:"requests"`
	Unexpected  int `json:"unexpected"`
	InfraErrors int `json:"infrastructureErrors"`
	// ByPhase splits the counts by the phase in force when each request started.
	ByPhase []PhaseCount `json:"byPhase"`
	// Windows are the runs of consecutive unexpected outcomes.
	Windows []Window `json:"windows"`
	// Samples are the first unexpected observations, InfraSamples the first exec failures.
	Samples      []Sample `json:"samples"`
	InfraSamples []Sample `json:"infrastructureSamples,omitempty"`
}

// PhaseCount is one phase's share of a pair's requests.
type PhaseCount struct {
	Phase       string `json:"phase"`
	Requests    int    `json:"requests"`
	Unexpected  int    `json:"unexpected"`
	InfraErrors int    `json:"infrastructureErrors"`
}

// Window is a run of consecutive unexpected outcomes on one pair: from the start of its first
// request to the end of its last, from the prober's start.
type Window struct {
	Phase    string `json:"phase"`
	StartMs  int64  `json:"startMs"`
	EndMs    int64  `json:"endMs"`
	Requests int    `json:"requests"`
}

// Sample is one request worth showing.
type Sample struct {
	AtMs     int64  `json:"atMs"`
	Phase    string `json:"phase"`
	ExitCode int    `json:"exitCode"`
	HTTPCode int    `json:"httpCode"`
	MTLS     bool   `json:"mtls"`
	Observed string `json:"observed"`
	Mismatch string `json:"mismatch,omitempty"`
}

func (r *PairResult) phaseCount(phase string) *PhaseCount {
	for i := range r.ByPhase {
		if r.ByPhase[i].Phase == phase {
			return &r.ByPhase[i]
		}
	}
	r.ByPhase = append(r.ByPhase, PhaseCount{Phase: phase})
	return &r.ByPhase[len(r.ByPhase)-1]
}

// Observed is how many requests observed an outcome at all.
func (r *PairResult) Observed() int { return r.Requests - r.InfraErrors }

func (d Disruption) clone() Disruption {
	out := d
	out.Phases = slices.Clone(d.Phases)
	out.Pairs = make([]PairResult, len(d.Pairs))
	for i, p := range d.Pairs {
		p.ByPhase = slices.Clone(p.ByPhase)
		p.Windows = slices.Clone(p.Windows)
		p.Samples = slices.Clone(p.Samples)
		p.InfraSamples = slices.Clone(p.InfraSamples)
		out.Pairs[i] = p
	}
	return out
}

// Unexpected is the number of requests, over every pair, whose outcome was not the expected one.
func (d Disruption) Unexpected() int {
	n := 0
	for _, p := range d.Pairs {
		n += p.Unexpected
	}
	return n
}

// Requests is the number of requests sent over every pair.
func (d Disruption) Requests() int {
	n := 0
	for _, p := range d.Pairs {
		n += p.Requests
	}
	return n
}

// Check fails when more requests than budget saw an unexpected outcome, or when a pair observed
// nothing at all (every request failed to run), which would make a count of zero meaningless.
func (d Disruption) Check(budget int) error {
	var blind []string
	for _, p := range d.Pairs {
		if p.Observed() == 0 {
			blind = append(blind, fmt.Sprintf("%s (%s → %s:%d): none of %d requests could be made", p.Name, p.From, p.To, p.Port, p.Requests))
		}
	}
	if len(blind) > 0 {
		return fmt.Errorf("the background prober observed nothing on %s", strings.Join(blind, "; "))
	}
	if n := d.Unexpected(); n > budget {
		return fmt.Errorf("%d of %d background requests got an unexpected outcome, over the error budget of %d:\n%s", n, d.Requests(), budget, d.Summary())
	}
	return nil
}

// Summary is one line per pair and per window, for logs and the JUnit report.
func (d Disruption) Summary() string {
	var b strings.Builder
	for _, p := range d.Pairs {
		fmt.Fprintf(&b, "%s (%s → %s:%d, expected %s): %d unexpected of %d requests, %d infrastructure errors\n",
			p.Name, p.From, p.To, p.Port, p.Expected, p.Unexpected, p.Requests, p.InfraErrors)
		for _, w := range p.Windows {
			fmt.Fprintf(&b, "  +%s to +%s during %q: %d requests\n", ms(w.StartMs), ms(w.EndMs), w.Phase, w.Requests)
		}
		if len(p.Samples) > 0 {
			fmt.Fprintf(&b, "  first: %s\n", p.Samples[0].Observed)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

// Records turns the counts into results.json rows, one per pair (report.FromPairCounts: pass
// within budget, fail over it, infrastructure-error for a pair that observed nothing).
func (d Disruption) Records(scenario, step string, budget int) []report.ProbeRecord {
	end := d.Stopped
	if end.IsZero() {
		end = time.Now().UTC()
	}
	var out []report.ProbeRecord
	for _, p := range d.Pairs {
		c := report.PairCounts{Name: p.Name, From: p.From, To: p.To, Port: p.Port, Expected: p.Expected,
			Requests: p.Requests, Unexpected: p.Unexpected, InfraErrors: p.InfraErrors}
		if len(p.Samples) > 0 {
			s := p.Samples[0]
			c.FirstUnexpected = &report.Observed{ExitCode: s.ExitCode, HTTPCode: s.HTTPCode, MTLS: s.MTLS}
		}
		out = append(out, report.FromPairCounts(scenario, step, c, d.Unexpected(), budget, d.Started, end))
	}
	return out
}

// WriteJSON writes the report as runDir/disruption.json and returns the path.
func (d Disruption) WriteJSON(runDir string) (string, error) {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(runDir, DisruptionFile)
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, nil
}
