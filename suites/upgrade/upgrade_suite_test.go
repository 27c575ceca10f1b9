//go:build e2e

// Package upgrade is the upgrade verification suite: it installs Istio FROM with the fixtures,
// asserts the baseline and a STRICT scenario, upgrades the control plane to TO (in place, or as a
// canary revision the namespaces move to), and asserts again with the old sidecars under the new
// control plane, across revisions (canary), and with new sidecars — while a background prober
// counts every request whose outcome is not the expected one. The engine lives in
// suites/framework/upgrade; this package only says what is checked, in which order.
//
//	make upgrade FROM=1.30.5 TO=1.31.1 MODE=canary
//	go tool ginkgo --tags e2e ./suites/upgrade -- --from=1.30.5 --to=1.31.1 --mode=inplace
package upgrade

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	engine "github.com/mtls-conformance/mtls-conformance/suites/framework/upgrade"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// SuiteName is the JUnit suite name of upgrade runs.
const SuiteName = "Istio upgrade"

var (
	cfg  = settings.Defaults()
	opts = defaultOptions()
	// run, mesh, kube and controlPlane exist on Ginkgo process 1, where every spec runs (all are
	// Serial: they share one mesh). All stay nil in a dry run.
	run          *report.Run
	mesh         *world.World
	kube         kubernetes.Interface
	controlPlane *engine.ControlPlane
	// prober runs from "starts the background prober" to "stops the background prober".
	prober *engine.Prober
	// phaseRecords are each phase's records under the catalog's scenario names, written to
	// phases/<id>/results.json at the end, so `conformance diff` can compare two phases.
	phaseRecords = map[string][]report.ProbeRecord{}
	phaseEnv     = map[string]report.Environment{}
)

func defaultOptions() engine.Options {
	o, err := engine.DefaultOptions()
	if err != nil {
		panic(err)
	}
	return o
}

func init() {
	cfg.Bind(flag.CommandLine)
	opts.Bind(flag.CommandLine)
}

// teardownTimeout bounds cleanup, which must finish even after Ctrl-C.
const teardownTimeout = 10 * time.Minute

func TestUpgrade(t *testing.T) {
	RegisterFailHandler(Fail)
	if err := cfg.Resolve(flag.CommandLine, os.Getenv); err != nil {
		t.Fatalf("settings: %v", err)
	}
	if err := opts.Resolve(flag.CommandLine, os.Getenv); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	// The upgrade installs --from first. ISTIO_VERSION, which make exports for every target, is
	// the conformance suite's; only an explicit --istio-version that disagrees is an error.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "istio-version" })
	if explicit && cfg.IstioVersion != opts.From {
		t.Fatalf("upgrade: --istio-version=%s contradicts --from=%s; the upgrade installs --from first", cfg.IstioVersion, opts.From)
	}
	cfg.IstioVersion = opts.From
	if cfg.Ambient() {
		// What this suite verifies is sidecars: old proxies under a new control plane, restarts,
		// revision-to-revision traffic. A ztunnel/istio-cni upgrade is not modelled (issue 16).
		t.Skip("upgrade: DATAPLANE=ambient — the upgrade suite verifies the sidecar data plane only")
	}
	if _, _, _, err := upgradeScenarios(); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if cfg.ClusterMode == settings.ModeKind && cfg.NodeImage == "" {
		pins, err := versions.Load()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.NodeImage, err = engine.NodeImage(pins, opts.From, opts.To); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
	}
	RunSpecs(t, SuiteName)
}

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	// Setup errors fail with their own text (report.FailOnError), which names the failed step;
	// junit.xml reports it once, as that step's [Infrastructure] testcase.
	r, err := world.NewRun(cfg)
	report.FailOnError(err)
	run = r
	GinkgoWriter.Printf("reports: %s\nupgrade: Istio %s → %s, %s\n", run.Dir, opts.From, opts.To, opts.Mode)
	// The TO charts are fetched and checked before any cluster exists, as world.Setup does for FROM.
	report.FailOnError(run.Step(world.StepIstio+" "+opts.To, func() error {
		return istio.CheckCharts(istio.Options{Version: opts.To, ChartsDir: cfg.IstioCharts, Hub: cfg.IstioHub, Tag: opts.ToTag})
	}))
	w, err := world.New(cfg, run, GinkgoWriter)
	report.FailOnError(err)
	mesh = w
	// Registered before Setup and before the control plane's own cleanup, which therefore runs
	// first (DeferCleanup is last in, first out); NodeTimeout gives it its own budget after
	// Ctrl-C.
	DeferCleanup(func(SpecContext) {
		report.FailOnError(mesh.Teardown(teardownTimeout))
	}, NodeTimeout(teardownTimeout))
	report.FailOnError(mesh.Setup(ctx))
	report.FailOnError(run.Step("prepare the upgrade", func() error {
		inst, err := mesh.IstioInstaller()
		if err != nil {
			return err
		}
		if kube, err = kubernetes.NewForConfig(mesh.Config); err != nil {
			return err
		}
		controlPlane, err = engine.NewControlPlane(inst, opts, engine.ControlPlaneConfig{
			Kubeconfig: mesh.Kubeconfig, Context: cfg.Context, Rest: mesh.Config,
			// The TO release comes from the same charts source and image hub as FROM; its image
			// tag is --to-tag, else the chart's own (--istio-tag applies to FROM).
			Target: istio.Options{ChartsDir: cfg.IstioCharts, Hub: cfg.IstioHub, Tag: opts.ToTag},
			Out:    GinkgoWriter,
		})
		if err != nil {
			return err
		}
		// LOAD_IMAGES: TO's images go into the nodes too (its sidecar's only where sidecars run).
		images, err := controlPlane.Images(sidecarsReason == "")
		if err != nil {
			return err
		}
		return mesh.LoadImages(ctx, images)
	}))
	DeferCleanup(func(SpecContext) {
		stopProber()
		ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
		defer cancel()
		if err := controlPlane.Close(ctx, mesh.Created); err != nil {
			report.FailOnError(fmt.Errorf("removing the canary control plane: %w", err))
		}
	}, NodeTimeout(teardownTimeout))
	return []byte(run.Dir)
}, func(ctx SpecContext, runDir []byte) {
	if run == nil {
		r, err := report.OpenRun(string(runDir))
		report.FailOnError(err)
		run = r
	}
}, GracePeriod(5*time.Minute))

var _ = ReportAfterSuite("results.json, phases/*/results.json, summary.md and junit.xml", func(r Report) {
	if run == nil {
		return
	}
	for id, recs := range phaseRecords {
		dir, err := engine.WritePhaseResults(run.Dir, id, phaseEnv[id], recs)
		report.FailOnError(err)
		GinkgoWriter.Printf("phase %s: %s\n", id, dir)
	}
	report.FailOnError(run.Finish(&r))
})
