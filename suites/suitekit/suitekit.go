// Package suitekit is the Ginkgo glue the e2e suites (suites/mtls, suites/upgrade) share: the
// settings bound to the command line and resolved once, the suite's setup on Ginkgo process 1
// (the run folder, the world, their teardown) and its report at the end, and the body of a probe's
// spec (its record, report entries, diagnostics and failure). The suites' folders hold their specs;
// the engine (suites/framework) never imports this package and knows nothing about Ginkgo
// (suites/imports_test.go enforces both).
package suitekit

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
)

// TeardownTimeout bounds cleanup, which must finish even after Ctrl-C; SetupGracePeriod lets an
// interrupted setup reach a point where it can be undone (kind's create takes no context).
const (
	TeardownTimeout  = 10 * time.Minute
	SetupGracePeriod = 5 * time.Minute
)

// Suite is one e2e suite's glue.
type Suite struct {
	// Settings are the conformance settings, bound to the command line by New and resolved by
	// RunSpecs, before Ginkgo builds the tree.
	Settings settings.Settings
	// Run and World exist on Ginkgo process 1, where every spec runs (the specs are Serial: they
	// share one mesh). Both stay nil in a dry run.
	Run   *report.Run
	World *world.World

	name  string
	hooks Hooks
}

// Hooks are what a suite adds to the shared bootstrap; every one may be nil.
type Hooks struct {
	// Resolve runs once the settings are resolved, before the tree is built: the suite's own
	// options. An error fails the suite before anything runs; a skip reason skips it.
	Resolve func(fs *flag.FlagSet) (skip string, err error)
	// BeforeWorld runs on process 1 once the run folder exists, before the world is made: checks
	// that must fail before any cluster exists.
	BeforeWorld func(ctx SpecContext)
	// AfterSetup runs on process 1 once the world is set up. Its DeferCleanups run before the
	// world's teardown.
	AfterSetup func(ctx SpecContext)
	// AlsoWrites names the files the suite's BeforeFinish writes, for ReportAfterSuite's text;
	// BeforeFinish runs before the run's own files (report.FinishWrites) are written.
	AlsoWrites   []string
	BeforeFinish func()
}

// New binds the settings to the command line, with their defaults. Call it once, in a
// package-level var of the suite (flags are parsed before the suite's Test function runs).
func New(name string) *Suite {
	s := &Suite{Settings: settings.Defaults(), name: name}
	s.Settings.Bind(flag.CommandLine)
	return s
}

// RunSpecs resolves the settings (flags, then the environment) and the suite's own options
// (hooks.Resolve), registers the suite's setup (SynchronizedBeforeSuite) and report
// (ReportAfterSuite), and runs the specs. Ginkgo takes suite nodes until it builds the tree, which
// RunSpecs starts; registering them here, rather than in a package-level var, lets the hooks use
// the suite's own variables without an initialization cycle.
func (s *Suite) RunSpecs(t *testing.T, hooks Hooks) {
	s.hooks = hooks
	RegisterFailHandler(Fail)
	if err := s.Settings.Resolve(flag.CommandLine, os.Getenv); err != nil {
		t.Fatalf("settings: %v", err)
	}
	if hooks.Resolve != nil {
		skip, err := hooks.Resolve(flag.CommandLine)
		if err != nil {
			t.Fatal(err)
		}
		if skip != "" {
			t.Skip(skip)
		}
	}
	SynchronizedBeforeSuite(s.setup, s.open, GracePeriod(SetupGracePeriod))
	ReportAfterSuite(report.FinishWrites(hooks.AlsoWrites...), s.finish)
	RunSpecs(t, s.name)
}

// setup is process 1's: the run folder, the world and its teardown, the world's setup. Setup
// errors fail with their own text (FailOnError), which names the failed step; junit.xml reports it
// once, as that step's [Infrastructure] testcase.
func (s *Suite) setup(ctx SpecContext) []byte {
	r, err := world.NewRun(s.Settings)
	FailOnError(err)
	s.Run = r
	GinkgoWriter.Printf("reports: %s\n", s.Run.Dir)
	if s.hooks.BeforeWorld != nil {
		s.hooks.BeforeWorld(ctx)
	}
	w, err := world.New(s.Settings, s.Run, GinkgoWriter)
	FailOnError(err)
	s.World = w
	// Registered before Setup, so an interrupt or a failure half-way still tears down what was
	// created; NodeTimeout gives teardown its own budget after Ctrl-C (Ginkgo's default grace
	// period is 30 s).
	DeferCleanup(func(SpecContext) {
		FailOnError(s.World.Teardown(TeardownTimeout))
	}, NodeTimeout(TeardownTimeout))
	FailOnError(s.World.Setup(ctx))
	if s.hooks.AfterSetup != nil {
		s.hooks.AfterSetup(ctx)
	}
	return []byte(s.Run.Dir)
}

// open is every process's: the others record into process 1's run folder.
func (s *Suite) open(_ SpecContext, runDir []byte) {
	if s.Run == nil {
		r, err := report.OpenRun(string(runDir))
		FailOnError(err)
		s.Run = r
	}
}

func (s *Suite) finish(r Report) {
	if s.Run == nil {
		return
	}
	if s.hooks.BeforeFinish != nil {
		s.hooks.BeforeFinish()
	}
	FailOnError(s.Run.Finish(&r))
}

// FailOnError fails the running Ginkgo node with err's own text when err is not nil. Gomega's
// Succeed() and HaveOccurred() would print the error wrapped in a dump of its nested structs
// (some 40 lines for a kind or Helm error) around it; a setup step's error already names the
// step (report.Run.Step), and the JUnit report folds it into that step's testcase.
func FailOnError(err error) {
	if err != nil {
		GinkgoHelper()
		Fail(err.Error())
	}
}

// Catalog is the suite's scenarios: the catalog, then SCENARIOS_DIR's. It is read while Ginkgo
// builds the tree, so a malformed scenario fails `make list`.
func (s *Suite) Catalog() []*scenarios.Scenario {
	c, err := scenarios.CatalogWithDir(s.Settings.ScenariosDir)
	must(err)
	return c
}

// Topology is the run's fixture topology (the documented one, or INJECT's), for building the
// tree: it has the sidecars the run deploys.
func (s *Suite) Topology() *fixtures.Topology {
	t, err := world.RunTopology(s.Settings)
	must(err)
	return t
}

// StepExpectations are what step i of sc expects in this run (world.StepExpectations: the
// catalog's on the documented topology, the oracle's on INJECT's), for building the tree.
func (s *Suite) StepExpectations(sc *scenarios.Scenario, i int) []scenarios.ProbeOutcome {
	expect, err := world.StepExpectations(s.Settings, sc, i)
	must(err)
	return expect
}

// must stops the tree's construction: Ginkgo reports the panic and runs nothing.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// Recorder takes a probe's record: the run's (Run.Record), or a suite's own that also files it
// elsewhere (the upgrade's phases).
type Recorder func(report.ProbeRecord) error

// RecordSkipped records every probe of step i of sc as skipped, with the reason.
func RecordSkipped(record Recorder, sc *scenarios.Scenario, i int, expect []scenarios.ProbeOutcome, reason string) {
	GinkgoHelper()
	for _, e := range expect {
		Expect(record(report.Skipped(sc, i, e, reason))).To(Succeed())
	}
}

// ProbeVerdict is the body of a probe's spec once its step's matrix ran: the probe's record
// (report.FromProbeResult), its attempts and convergence time as report entries, and, when it did
// not converge, its diagnostics and the probe's own failure.
func (s *Suite) ProbeVerdict(ctx SpecContext, record Recorder, sc *scenarios.Scenario, i int, p scenarios.Probe, r *probe.Result) {
	GinkgoHelper()
	if r == nil {
		Fail("not probed: the step before it did not run")
	}
	rec := report.FromProbeResult(sc.Name, sc.Steps[i].Name, i, r)
	if !r.Converged && rec.Message == "" {
		// probe.RunMatrix gives every unconverged probe an Err, but a Result is the caller's and
		// its record must still say why it failed.
		rec.Message = "did not converge"
	}
	Expect(record(rec)).To(Succeed())
	AddReportEntry("attempts", rec.Attempts)
	AddReportEntry("convergeMs", rec.ConvergeMs)
	if !r.Converged {
		s.CollectDiagnostics(ctx, p, rec.Message)
		Fail(rec.Message)
	}
}

// FailProbe records a probe that could not be judged as rec says, keeps its diagnostics and fails
// the spec with rec's message.
func (s *Suite) FailProbe(ctx SpecContext, record Recorder, p scenarios.Probe, rec report.ProbeRecord) {
	GinkgoHelper()
	Expect(record(rec)).To(Succeed())
	s.CollectDiagnostics(ctx, p, rec.Message)
	Fail(rec.Message)
}

// CollectDiagnostics keeps a failed probe's evidence, starting with its failure, next to the
// report; failing to collect it is reported but never hides the probe's own failure.
func (s *Suite) CollectDiagnostics(ctx context.Context, p scenarios.Probe, failure string) {
	dir, err := s.World.CollectDiagnostics(ctx, CurrentSpecReport().FullText(), failure, p)
	if err != nil {
		GinkgoWriter.Printf("diagnostics for %s: %v\n", p, err)
		return
	}
	AddReportEntry("diagnostics", dir)
}
