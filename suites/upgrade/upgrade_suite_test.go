//go:build e2e

// Package upgrade is the upgrade verification suite: it installs Istio FROM with the fixtures,
// asserts the baseline and a STRICT scenario, upgrades the control plane to TO (in place, or as a
// canary revision the namespaces move to), and asserts again with the old sidecars under the new
// control plane, across revisions (canary), and with new sidecars — while a background prober
// counts every request whose outcome is not the expected one. The engine lives in
// suites/framework/upgrade and the Ginkgo glue in suites/suitekit; this package only says what is
// checked, in which order.
//
//	make upgrade FROM=1.30.5 TO=1.31.1 MODE=canary
//	go tool ginkgo --tags e2e ./suites/upgrade -- --from=1.30.5 --to=1.31.1 --mode=inplace
package upgrade

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	engine "github.com/mtls-conformance/mtls-conformance/suites/framework/upgrade"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
	"github.com/mtls-conformance/mtls-conformance/suites/suitekit"
)

// SuiteName is the JUnit suite name of upgrade runs.
const SuiteName = "Istio upgrade"

var (
	// suite is the run's settings, report and world (suitekit.Suite); opts the upgrade's own.
	suite = suitekit.New(SuiteName)
	opts  = defaultOptions()
	// kube and controlPlane exist on Ginkgo process 1, where every spec runs (all are Serial: they
	// share one mesh). Both stay nil in a dry run.
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

func init() { opts.Bind(flag.CommandLine) }

func TestUpgrade(t *testing.T) {
	suite.RunSpecs(t, suitekit.Hooks{
		Resolve:      resolve,
		BeforeWorld:  checkTarget,
		AfterSetup:   prepare,
		AlsoWrites:   []string{path.Join(engine.PhasesDir, "*", report.ResultsFile)},
		BeforeFinish: writePhases,
	})
}

// resolve resolves the upgrade's options and fits the settings to them (the engine's
// InstallFirst and PickNodeImage), before the tree is built.
func resolve(fs *flag.FlagSet) (skip string, err error) {
	if err := opts.Resolve(fs, os.Getenv); err != nil {
		return "", fmt.Errorf("upgrade: %w", err)
	}
	if err := opts.InstallFirst(fs, &suite.Settings); err != nil {
		return "", fmt.Errorf("upgrade: %w", err)
	}
	if suite.Settings.Ambient() {
		// What this suite verifies is sidecars: old proxies under a new control plane, restarts,
		// revision-to-revision traffic. A ztunnel/istio-cni upgrade is not modelled (issue 16).
		return "upgrade: DATAPLANE=ambient — the upgrade suite verifies the sidecar data plane only", nil
	}
	if _, _, _, err := upgradeScenarios(); err != nil {
		return "", fmt.Errorf("upgrade: %w", err)
	}
	if err := opts.PickNodeImage(&suite.Settings); err != nil {
		return "", fmt.Errorf("upgrade: %w", err)
	}
	return "", nil
}

// checkTarget fetches and checks the TO charts before any cluster exists, as world.Setup does for
// FROM.
func checkTarget(SpecContext) {
	GinkgoWriter.Printf("upgrade: Istio %s → %s, %s\n", opts.From, opts.To, opts.Mode)
	cfg := suite.Settings
	suitekit.FailOnError(suite.Run.Step(world.StepIstio+" "+opts.To, func() error {
		return istio.CheckCharts(istio.Options{Version: opts.To, ChartsDir: cfg.IstioCharts, Hub: cfg.IstioHub, Tag: opts.ToTag})
	}))
}

// prepare makes the control plane's upgrade steps ready once FROM is installed, and registers
// their cleanup, which runs before the world's teardown (DeferCleanup is last in, first out);
// NodeTimeout gives it its own budget after Ctrl-C.
func prepare(ctx SpecContext) {
	cfg, mesh := suite.Settings, suite.World
	suitekit.FailOnError(suite.Run.Step("prepare the upgrade", func() error {
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
		ctx, cancel := context.WithTimeout(context.Background(), suitekit.TeardownTimeout)
		defer cancel()
		if err := controlPlane.Close(ctx, mesh.Created); err != nil {
			suitekit.FailOnError(fmt.Errorf("removing the canary control plane: %w", err))
		}
	}, NodeTimeout(suitekit.TeardownTimeout))
}

// writePhases writes each phase's own results file, before the run's report.
func writePhases() {
	for id, recs := range phaseRecords {
		dir, err := engine.WritePhaseResults(suite.Run.Dir, id, phaseEnv[id], recs)
		suitekit.FailOnError(err)
		GinkgoWriter.Printf("phase %s: %s\n", id, dir)
	}
}
