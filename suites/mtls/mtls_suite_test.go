//go:build e2e

// Package mtls is the conformance suite: every catalog scenario (scenarios/catalog) as an
// Ordered container, every probe as its own spec. The engine lives in suites/framework; this
// package only says what is checked, in which order.
//
//	go tool ginkgo --tags e2e ./suites/mtls -- --cluster=existing --allow-mesh-wide
package mtls

import (
	"flag"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
)

var (
	cfg = settings.Defaults()
	// run and mesh exist on Ginkgo process 1, where every spec runs (the specs are Serial: they
	// share one mesh). Both stay nil in a dry run.
	run  *report.Run
	mesh *world.World
)

func init() { cfg.Bind(flag.CommandLine) }

// teardownTimeout bounds cleanup, which must finish even after Ctrl-C; setupGracePeriod lets an
// interrupted setup reach a point where it can be undone (kind's create takes no context).
const (
	teardownTimeout  = 10 * time.Minute
	setupGracePeriod = 5 * time.Minute
)

func TestMTLS(t *testing.T) {
	RegisterFailHandler(Fail)
	if err := cfg.Resolve(flag.CommandLine, os.Getenv); err != nil {
		t.Fatalf("settings: %v", err)
	}
	RunSpecs(t, report.DefaultSuiteName)
}

// catalog is read while Ginkgo builds the tree, so a malformed scenario fails `make list`; with
// SCENARIOS_DIR, that folder's scenarios follow the catalog's.
func catalog() []*scenarios.Scenario {
	c, err := scenarios.CatalogWithDir(cfg.ScenariosDir)
	if err != nil {
		panic(err)
	}
	return c
}

// topology is the run's fixture topology (the documented one, or INJECT's), for building the
// tree: it has the sidecars the run deploys.
func topology() *fixtures.Topology {
	t, err := world.RunTopology(cfg)
	if err != nil {
		panic(err)
	}
	return t
}

// stepExpectations are what step i of s expects in this run (world.StepExpectations: the
// catalog's on the documented topology, the oracle's on INJECT's), for building the tree.
func stepExpectations(s *scenarios.Scenario, i int) []scenarios.ProbeOutcome {
	expect, err := world.StepExpectations(cfg, s, i)
	if err != nil {
		panic(err)
	}
	return expect
}

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	// Setup errors fail with their own text (report.FailOnError), which names the failed step;
	// junit.xml reports it once, as that step's [Infrastructure] testcase.
	r, err := world.NewRun(cfg)
	report.FailOnError(err)
	run = r
	GinkgoWriter.Printf("reports: %s\n", run.Dir)
	w, err := world.New(cfg, run, GinkgoWriter)
	report.FailOnError(err)
	mesh = w
	// Registered before Setup, so an interrupt or a failure half-way still tears down what was
	// created; NodeTimeout gives teardown its own budget after Ctrl-C (Ginkgo's default grace
	// period is 30 s).
	DeferCleanup(func(SpecContext) {
		report.FailOnError(mesh.Teardown(teardownTimeout))
	}, NodeTimeout(teardownTimeout))
	report.FailOnError(mesh.Setup(ctx))
	return []byte(run.Dir)
}, func(ctx SpecContext, runDir []byte) {
	if run == nil {
		r, err := report.OpenRun(string(runDir))
		report.FailOnError(err)
		run = r
	}
}, GracePeriod(setupGracePeriod))

var _ = ReportAfterSuite("results.json, summary.md and junit.xml", func(r Report) {
	if run == nil {
		return
	}
	report.FailOnError(run.Finish(&r))
})
