package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// Options configure probing and convergence. Zero fields take the defaults below.
type Options struct {
	// Consecutive is how many matching observations in a row make a pass (default 3): Istio
	// pushes configuration to each proxy asynchronously, so one match can be a transient.
	Consecutive int
	// Timeout bounds the whole convergence (default 120 s, the istio.io doc tests' budget:
	// istio/istio.io tests/util/helpers.sh retries every 1 s for up to 2 min).
	Timeout time.Duration
	// Interval is the time between the starts of two attempts (default 1 s).
	Interval time.Duration
	// ConnectTimeout and MaxTime are curl's --connect-timeout and --max-time (defaults 5 s, 10 s).
	ConnectTimeout time.Duration
	MaxTime        time.Duration
	// ExecGrace is added to MaxTime to bound one exec: pod lookup, exec setup and stream
	// teardown (default 10 s).
	ExecGrace time.Duration
	// History is how many of the last observations a Result keeps for its report (default 5).
	History int
	// Parallel is RunMatrix's number of concurrent probes (0: all of them; the suites pass
	// the concurrency setting).
	Parallel int
}

// Defaults.
const (
	DefaultConsecutive    = settings.DefaultConsecutive // the run's default, defined once
	DefaultTimeout        = settings.DefaultTimeout
	DefaultInterval       = time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultMaxTime        = 10 * time.Second
	DefaultExecGrace      = 10 * time.Second
	DefaultHistory        = 5
)

func (o Options) withDefaults() Options {
	settings.OrDefault(&o.Consecutive, DefaultConsecutive)
	settings.OrDefault(&o.Timeout, DefaultTimeout)
	settings.OrDefault(&o.Interval, DefaultInterval)
	settings.OrDefault(&o.ConnectTimeout, DefaultConnectTimeout)
	settings.OrDefault(&o.MaxTime, DefaultMaxTime)
	settings.OrDefault(&o.ExecGrace, DefaultExecGrace)
	settings.OrDefault(&o.History, DefaultHistory)
	return o
}

// Probe is one cell of a matrix: a target and the outcome it must converge to.
type Probe struct {
	Target   Target
	Expected scenarios.Outcome
}

// Result is the verdict on one probe.
type Result struct {
	Probe Probe
	// Converged: the expected outcome was observed Consecutive times in a row within Timeout.
	Converged bool
	// Attempts counts every curl run; Elapsed runs from the first attempt's start to the end of
	// the last one.
	Attempts int
	Elapsed  time.Duration
	// StableAfter is when the final run of matching observations began (converged only): the
	// time the mesh took to show the expected behaviour for good.
	StableAfter time.Duration
	// Last is the last observation; History the last few, oldest first, Last included.
	Last    *Observation
	History []*Observation
	// Err is nil when converged; otherwise a *ConvergeError (or the context's error).
	Err error
}

// ErrNotConverged is what errors.Is finds in a Result.Err of a probe that ran out of time.
var ErrNotConverged = errors.New("not converged")

// Is lets errors.Is(err, ErrNotConverged) recognise a ConvergeError.
func (e *ConvergeError) Is(target error) bool { return target == ErrNotConverged }

// ConvergeError explains a probe that did not converge: expected and observed side by side, the
// last mismatch, curl's stderr and the last few observations.
type ConvergeError struct {
	Result   *Result
	Options  Options
	Mismatch error
}

func (e *ConvergeError) Error() string {
	r := e.Result
	var b strings.Builder
	fmt.Fprintf(&b, "%s did not converge within %s: %d attempts, %d consecutive matches needed\n",
		r.Probe.Target, e.Options.Timeout, r.Attempts, e.Options.Consecutive)
	fmt.Fprintf(&b, "  expected: %s [%s]\n", r.Probe.Expected, classOf(r.Probe.Expected))
	if r.Last != nil {
		fmt.Fprintf(&b, "  observed: %s\n", r.Last)
	}
	fmt.Fprintf(&b, "  mismatch: %v\n", e.Mismatch)
	if r.Last != nil {
		fmt.Fprintf(&b, "  stderr:   %s\n", firstLine(r.Last.Stderr))
	}
	fmt.Fprintf(&b, "  command:  %s\n", shellJoin(Command(r.Probe.Target, e.Options)))
	fmt.Fprintf(&b, "  last %d observations:\n", len(r.History))
	for _, o := range r.History {
		fmt.Fprintf(&b, "    #%d at +%s (%s): %s\n", o.Attempt, o.At.Round(time.Millisecond), o.Duration.Round(time.Millisecond), o)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Unwrap exposes the last mismatch, so errors.Is(err, ErrInfrastructure) tells a probe that could
// not run from one that observed the wrong outcome.
func (e *ConvergeError) Unwrap() error { return e.Mismatch }

// shellJoin renders a command so it can be pasted after "kubectl exec ... --" or into a shell.
func shellJoin(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
			quoted[i] = a
			continue
		}
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

func classOf(o scenarios.Outcome) string {
	if c := o.Class(); c != "" {
		return string(c)
	}
	return "no class"
}

// Converge probes until the expected outcome is observed opts.Consecutive times in a row, or
// opts.Timeout passes, or ctx ends: RunMatrix with one probe. Attempts start opts.Interval apart
// (immediately after a slower attempt); each exec is bounded by MaxTime + ExecGrace, so Converge
// returns within Timeout + MaxTime + ExecGrace. It waits on a timer, never sleeps.
func Converge(ctx context.Context, exec Executor, target Target, expected scenarios.Outcome, opts Options) *Result {
	return RunMatrix(ctx, exec, []Probe{{Target: target, Expected: expected}}, opts)[0]
}

// convergence is one probe's progress towards its verdict: the streak of matching observations
// and the history its Result reports. Converge drives one; RunMatrix drives one per probe, fed by
// batched execs.
type convergence struct {
	res        *Result
	opts       Options
	start      time.Time
	deadline   time.Time
	streak     int
	stableFrom time.Duration
	mismatch   error
	done       bool
}

func newConvergence(res *Result, opts Options, start time.Time) *convergence {
	return &convergence{res: res, opts: opts, start: start, deadline: start.Add(opts.Timeout)}
}

// observe records an observation of an attempt that started at attemptStart and reports whether
// the probe has converged.
func (c *convergence) observe(obs *Observation, attemptStart time.Time) bool {
	res := c.res
	res.Attempts++
	obs.Attempt, obs.At = res.Attempts, attemptStart.Sub(c.start)
	res.Last = obs
	res.History = append(res.History, obs)
	if len(res.History) > c.opts.History {
		res.History = res.History[1:]
	}
	res.Elapsed = time.Since(c.start)
	if c.mismatch = Match(res.Probe.Expected, obs); c.mismatch != nil {
		c.streak = 0
		return false
	}
	c.streak++
	if c.streak == 1 {
		c.stableFrom = obs.At
	}
	if c.streak >= c.opts.Consecutive {
		res.Converged, res.StableAfter, c.done = true, c.stableFrom, true
		return true
	}
	return false
}

// outOfTime ends an unconverged probe with a ConvergeError when its next attempt would start at
// or after the deadline.
func (c *convergence) outOfTime(next time.Time) bool {
	if next.Before(c.deadline) {
		return false
	}
	c.res.Err = &ConvergeError{Result: c.res, Options: c.opts, Mismatch: lastMismatch(c.mismatch, c.streak)}
	c.done = true
	return true
}

// cancel ends the probe because its context ended.
func (c *convergence) cancel(err error) {
	c.res.Err = fmt.Errorf("%s: %w after %d attempts", c.res.Probe.Target, err, c.res.Attempts)
	c.done = true
}

// lastMismatch explains a timeout whose last observations matched but too few times in a row.
func lastMismatch(mismatch error, streak int) error {
	if mismatch != nil {
		return mismatch
	}
	return fmt.Errorf("only the last %d observations matched when time ran out", streak)
}
