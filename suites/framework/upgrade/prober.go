package upgrade

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// Pair is one request the background prober repeats, and the outcome every repetition must see.
type Pair struct {
	// Name says what the pair stands for ("sidecar → sidecar mTLS").
	Name     string
	Target   probe.Target
	Expected scenarios.Outcome
}

// PairSpec chooses a pair from a scenario step's expectations: its probe and the class of
// outcome the caller relies on it having there.
type PairSpec struct {
	Name  string
	Probe scenarios.Probe
	Class scenarios.Class
}

// PairsFor builds the prober's pairs from the expectations in force (already rewritten for the
// run's trust domain). A probe missing from expect, or expected with another class than the spec
// says, is an error: the catalog changed under the suite.
func PairsFor(topo *fixtures.Topology, expect []scenarios.ProbeOutcome, specs []PairSpec) ([]Pair, error) {
	var out []Pair
	for _, spec := range specs {
		i := slices.IndexFunc(expect, func(e scenarios.ProbeOutcome) bool { return e.Probe == spec.Probe })
		if i < 0 {
			return nil, fmt.Errorf("background pair %q: %s is not among the expected outcomes", spec.Name, spec.Probe)
		}
		if got := expect[i].Class(); got != spec.Class {
			return nil, fmt.Errorf("background pair %q: %s is expected to be %q, not %q", spec.Name, spec.Probe, got, spec.Class)
		}
		target, err := probe.TargetFor(topo, spec.Probe)
		if err != nil {
			return nil, fmt.Errorf("background pair %q: %w", spec.Name, err)
		}
		out = append(out, Pair{Name: spec.Name, Target: target, Expected: expect[i].Outcome})
	}
	return out, nil
}

// ProberOptions configure the background prober. Zero fields take the defaults.
type ProberOptions struct {
	// Interval is the time between the starts of two requests on one pair (default
	// DefaultProbeInterval); a request that takes longer is followed at once.
	Interval time.Duration
	// Probe holds curl's --connect-timeout and --max-time and the exec grace (probe.Options
	// defaults); its convergence fields are unused.
	Probe probe.Options
	// Samples is how many unexpected observations each pair keeps for the report (default 20).
	Samples int
	// Phase names the phase in force from the start ("" leaves it unnamed until Mark).
	Phase string
}

// DefaultSamples is ProberOptions.Samples' default.
const DefaultSamples = 20

func (o ProberOptions) withDefaults() ProberOptions {
	settings.OrDefault(&o.Interval, DefaultProbeInterval)
	settings.OrDefault(&o.Samples, DefaultSamples)
	return o
}

// Prober sends requests continuously on its pairs from Start to Stop and counts, per pair and per
// phase, every request whose outcome is not the expected one. Each pair has its own goroutine;
// requests on one pair never overlap.
type Prober struct {
	exec   probe.Executor
	opts   ProberOptions
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	started time.Time
	phase   string
	report  Disruption
	open    []int // per pair: index of the window of unexpected outcomes still going on, or -1
	stopped bool
}

// StartProber checks the pairs and starts probing them until Stop. ctx bounds the prober's life
// as a whole (Stop is the normal end); give it one that outlives the step that starts it.
func StartProber(ctx context.Context, exec probe.Executor, pairs []Pair, opts ProberOptions) (*Prober, error) {
	if len(pairs) == 0 {
		return nil, errors.New("background prober: no pairs")
	}
	for _, pr := range pairs {
		// Match validates the expectation itself (XFCC exactly with mTLS, mTLS only on 200).
		if err := probe.Match(pr.Expected, &probe.Observation{}); errors.Is(err, probe.ErrInvalidExpectation) {
			return nil, fmt.Errorf("background pair %q: %w", pr.Name, err)
		}
	}
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	p := &Prober{exec: exec, opts: opts, cancel: cancel, started: time.Now(), open: make([]int, len(pairs))}
	p.report = Disruption{Started: p.started.UTC(), IntervalMs: opts.Interval.Milliseconds(), Phases: []PhaseMark{}}
	if opts.Phase != "" {
		p.phase = opts.Phase
		p.report.Phases = append(p.report.Phases, PhaseMark{Name: opts.Phase})
	}
	for _, pr := range pairs {
		to, err := fixtures.ParseRef(pr.Target.Host)
		if err != nil {
			to = fixtures.Ref{Name: pr.Target.Host, Namespace: "-"}
		}
		p.report.Pairs = append(p.report.Pairs, PairResult{
			Name: pr.Name, From: pr.Target.Client.Ref, To: to, Port: pr.Target.Port, Expected: pr.Expected,
		})
	}
	for i, pr := range pairs {
		p.open[i] = -1
		p.wg.Go(func() { p.loop(ctx, i, pr) })
	}
	return p, nil
}

// Mark starts a phase: requests that start from now on are counted under its name.
func (p *Prober) Mark(phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.phase = phase
	p.report.Phases = append(p.report.Phases, PhaseMark{Name: phase, AtMs: time.Since(p.started).Milliseconds()})
}

// loop probes one pair: starts Interval apart, each request bounded by curl's --max-time plus
// the exec grace, waiting on a timer, never sleeping.
func (p *Prober) loop(ctx context.Context, i int, pr Pair) {
	popts := p.opts.Probe
	maxTime, grace := popts.MaxTime, popts.ExecGrace
	settings.OrDefault(&maxTime, probe.DefaultMaxTime)
	settings.OrDefault(&grace, probe.DefaultExecGrace)
	bound := maxTime + grace
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		phase := p.currentPhase()
		reqCtx, cancel := context.WithTimeout(ctx, bound)
		obs := probe.Once(reqCtx, p.exec, pr.Target, popts)
		cancel()
		if ctx.Err() != nil {
			return // cut short by Stop: says nothing about the mesh
		}
		p.record(i, pr, start, phase, obs)
		timer.Reset(time.Until(start.Add(p.opts.Interval)))
	}
}

func (p *Prober) currentPhase() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phase
}

// record counts one request.
func (p *Prober) record(i int, pr Pair, start time.Time, phase string, obs *probe.Observation) {
	mismatch := probe.Match(pr.Expected, obs)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	res := &p.report.Pairs[i]
	pc := res.phaseCount(phase)
	res.Requests++
	pc.Requests++
	at := start.Sub(p.started)
	switch {
	case obs.Err != nil:
		// The request could not be made (pod gone, exec refused): nothing about mTLS was seen.
		res.InfraErrors++
		pc.InfraErrors++
		if len(res.InfraSamples) < p.opts.Samples {
			res.InfraSamples = append(res.InfraSamples, Sample{AtMs: at.Milliseconds(), Phase: phase, Observed: obs.Err.Error()})
		}
	case mismatch != nil:
		res.Unexpected++
		pc.Unexpected++
		if len(res.Samples) < p.opts.Samples {
			res.Samples = append(res.Samples, Sample{
				AtMs: at.Milliseconds(), Phase: phase, Observed: obs.String(), Mismatch: mismatch.Error(),
				ExitCode: obs.ExitCode, HTTPCode: obs.HTTPCode, MTLS: len(obs.XFCC) > 0,
			})
		}
		if p.open[i] < 0 {
			res.Windows = append(res.Windows, Window{Phase: phase, StartMs: at.Milliseconds()})
			p.open[i] = len(res.Windows) - 1
		}
		w := &res.Windows[p.open[i]]
		w.Requests++
		w.EndMs = (at + obs.Duration).Milliseconds()
	default:
		p.open[i] = -1 // the expected outcome ends a window
	}
}

// Snapshot returns the counts so far.
func (p *Prober) Snapshot() Disruption {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.report.clone()
}

// Stop ends probing, waits for the pairs' goroutines and returns the final counts. A request
// under way when Stop is called is not counted. Stop may be called more than once.
func (p *Prober) Stop() Disruption {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		p.report.Stopped = time.Now().UTC()
	}
	return p.report.clone()
}
