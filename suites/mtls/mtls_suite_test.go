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

// teardownTimeout bounds cleanup, which must finish even after Ctrl-C.
const teardownTimeout = 10 * time.Minute

func TestMTLS(t *testing.T) {
	RegisterFailHandler(Fail)
	if err := cfg.Resolve(flag.CommandLine, os.Getenv); err != nil {
		t.Fatalf("settings: %v", err)
	}
	RunSpecs(t, report.DefaultSuiteName)
}

// catalog is read while Ginkgo builds the tree, so a malformed scenario fails `make list`.
func catalog() []*scenarios.Scenario {
	c, err := scenarios.Catalog()
	if err != nil {
		panic(err)
	}
	return c
}

// topology is the fixtures' topology, for building the tree.
func topology() *fixtures.Topology {
	t, err := fixtures.Load()
	if err != nil {
		panic(err)
	}
	return t
}

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	r, err := report.NewRun(cfg.ReportsDir)
	Expect(err).NotTo(HaveOccurred(), "creating the run folder")
	run = r
	GinkgoWriter.Printf("reports: %s\n", run.Dir)
	w, err := world.Setup(ctx, cfg, run, GinkgoWriter)
	mesh = w
	// Registered before the error check: a half-built world is torn down too, and Ginkgo runs
	// cleanup on interrupt.
	DeferCleanup(func() {
		if mesh != nil {
			Expect(mesh.Teardown(teardownTimeout)).To(Succeed(), "teardown")
		}
	})
	Expect(err).NotTo(HaveOccurred(), "setting up the world (see the [Infrastructure] testcase)")
	return []byte(run.Dir)
}, func(ctx SpecContext, runDir []byte) {
	if run == nil {
		r, err := report.OpenRun(string(runDir))
		Expect(err).NotTo(HaveOccurred())
		run = r
	}
})

var _ = ReportAfterSuite("results.json, summary.md and junit.xml", func(r Report) {
	if run == nil {
		return
	}
	Expect(run.Finish(&r)).To(Succeed())
})
