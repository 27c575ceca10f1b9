// Package world stands up and tears down everything a conformance run probes: the cluster (kind
// through kind's Go library, or one the user has), Istio (Helm SDK) and the fixtures, and moves
// the mesh from one scenario step to the next. It composes cluster, istio, deploy and probe and
// knows nothing about Ginkgo; each setup stage is recorded as an infrastructure step of the run,
// so a failure before any scenario shows up as a named failed testcase.
package world

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/diagnostics"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// The infrastructure steps, as JUnit names them when they fail.
const (
	StepCluster  = "cluster"
	StepIstio    = "istio"
	StepFixtures = "fixtures"
)

// World is one prepared cluster.
type World struct {
	Settings   settings.Settings
	Topology   *fixtures.Topology
	Config     *rest.Config
	Kubeconfig string
	Deployer   *deploy.Deployer
	Exec       probe.Executor
	// Created: this run created the cluster, so mesh-wide scenarios may run freely.
	Created bool
	// Env is what the report's header and JUnit properties say about the run.
	Env report.Environment

	diagnostics    *diagnostics.Collector
	fetcher        *authcheck.Fetcher
	provider       *cluster.Provider
	installer      *istio.Installer
	installedIstio bool
	revisions      []string
	out            io.Writer
}

// Setup creates or connects to the cluster, installs or detects Istio, and deploys the
// fixtures. On error the world built so far is returned too, so Teardown can undo it.
func Setup(ctx context.Context, s settings.Settings, run *report.Run, out io.Writer) (*World, error) {
	topo, err := fixtures.Load()
	if err != nil {
		return nil, err
	}
	w := &World{Settings: s, Topology: topo, out: out}
	w.Env.ClusterMode = s.ClusterMode
	// A version the chart repository lacks fails here, before any cluster exists.
	if s.ClusterMode == settings.ModeKind || s.InstallIstio {
		if err := run.Step(StepIstio, func() error { return istio.CheckCharts(w.istioOptions()) }); err != nil {
			return w, err
		}
	}
	if err := run.Step(StepCluster, func() error { return w.setupCluster(ctx) }); err != nil {
		return w, err
	}
	if err := run.Step(StepIstio, func() error { return w.setupIstio(ctx) }); err != nil {
		return w, err
	}
	_ = run.SetEnvironment(w.Env)
	if err := run.Step(StepFixtures, func() error { return w.setupFixtures(ctx, run.ID) }); err != nil {
		return w, err
	}
	kc, err := diagnostics.NewKubeCluster(w.Config)
	if err != nil {
		return w, err
	}
	w.diagnostics = &diagnostics.Collector{Cluster: kc, Dir: run.DiagnosticsDir()}
	return w, nil
}

func (w *World) setupCluster(ctx context.Context) error {
	s := w.Settings
	if s.ClusterMode == settings.ModeExisting {
		conn, err := cluster.Connect(ctx, cluster.ConnectOptions{Kubeconfig: s.Kubeconfig, Context: s.Context})
		if err != nil {
			return err
		}
		w.Config, w.Kubeconfig, w.Env.KubernetesVersion = conn.Config, s.Kubeconfig, conn.ServerVersion
		return nil
	}
	p := cluster.NewProvider()
	p.WithName(s.ClusterName)
	image := s.NodeImage
	if image == "" {
		pins, err := versions.Load()
		if err != nil {
			return err
		}
		version := s.IstioVersion
		if version == "" {
			version = pins.DefaultIstio
		}
		if image, err = pins.NodeImageFor(version); err != nil {
			return err
		}
	}
	p.WithVersion(image)
	p.WithOpts(cluster.WithReuse(s.ReuseCluster), cluster.WithKeep(s.KeepCluster), cluster.WithReportsDir(s.ReportsDir), cluster.WithOutput(w.out))
	w.provider = p
	kubeconfig, err := p.Create(ctx)
	if err != nil {
		return err
	}
	w.Kubeconfig, w.Config, w.Created = kubeconfig, p.KubernetesRestConfig(), p.Created()
	w.Env.NodeImage = p.NodeImage()
	w.Env.KubernetesVersion = serverVersion(w.Config)
	return nil
}

func serverVersion(cfg *rest.Config) string {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return ""
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return ""
	}
	return v.GitVersion
}

// setupIstio installs Istio on a cluster the run created; on an existing cluster it uses the
// installed Istio and installs only when asked.
func (w *World) setupIstio(ctx context.Context) error {
	s := w.Settings
	found, err := cluster.DetectIstio(ctx, w.Config)
	if err != nil {
		return err
	}
	if found.Installed() && !w.Created {
		for _, d := range found.Istiods {
			if d.Available {
				w.Env.IstioVersion = d.Version
				if d.Revision != "default" {
					w.revisions = append(w.revisions, d.Revision)
				}
			}
		}
		if s.IstioVersion != "" && s.IstioVersion != w.Env.IstioVersion {
			return fmt.Errorf("the cluster runs Istio %s, not the requested %s (%s)", w.Env.IstioVersion, s.IstioVersion, found.Summary())
		}
		return nil
	}
	if !w.Created && !s.InstallIstio {
		return fmt.Errorf("%s; rerun with --install-istio (INSTALL_ISTIO=1) to install Istio %s with Helm", found.Summary(), s.IstioVersion)
	}
	inst, err := istio.New(w.Kubeconfig, s.Context, w.istioOptions())
	if err != nil {
		return err
	}
	w.installer = inst
	if err := inst.Install(ctx); err != nil {
		return err
	}
	w.installedIstio = true
	if err := inst.WaitReady(ctx); err != nil {
		return err
	}
	w.Env.IstioVersion = inst.Version()
	return nil
}

func (w *World) istioOptions() istio.Options {
	s := w.Settings
	return istio.Options{Version: s.IstioVersion, ChartsDir: s.IstioCharts, Hub: s.IstioHub, Tag: s.IstioTag, Out: w.out}
}

func (w *World) setupFixtures(ctx context.Context, runID string) error {
	d, err := deploy.New(w.Config, runID)
	if err != nil {
		return err
	}
	w.Deployer = d
	if err := d.ApplyFixtures(ctx); err != nil {
		return err
	}
	if err := d.WaitFixturesReady(ctx, w.revisions); err != nil {
		return err
	}
	exec, err := probe.NewKubeExecutor(w.Config)
	if err != nil {
		return err
	}
	w.Exec = exec
	return nil
}

// MeshWideAllowed says whether a scenario that changes istio-system may run; the error is the
// reason to skip it.
func (w *World) MeshWideAllowed() error {
	return cluster.MeshWideAllowed(w.Created, w.Settings.AllowMeshWide)
}

// ApplyStep moves the mesh to step i of s: deletions, namespace relabels with restarts, then the
// step's objects in order (each younger than the last).
func (w *World) ApplyStep(ctx context.Context, s *scenarios.Scenario, i int) error {
	step := s.Steps[i]
	if err := w.Deployer.DeleteObjects(ctx, step.Delete); err != nil {
		return err
	}
	for _, c := range step.Namespaces {
		if err := w.Deployer.SetInjection(ctx, c.Name, c.Injection); err != nil {
			return err
		}
		if err := w.Deployer.RestartNamespace(ctx, c.Name, w.revisions); err != nil {
			return err
		}
	}
	return w.Deployer.ApplyObjects(ctx, step.Apply)
}

// ResetScenario removes what s left in force and puts relabelled namespaces back as the
// fixtures define them, restarting their pods, so no scenario leaks into the next.
func (w *World) ResetScenario(ctx context.Context, s *scenarios.Scenario) error {
	last := s.StateAt(w.Topology, len(s.Steps)-1)
	var keys []string
	for _, o := range last.Objects {
		keys = append(keys, o.Key())
	}
	var errs []error
	if err := w.Deployer.DeleteObjects(ctx, keys); err != nil {
		errs = append(errs, err)
	}
	relabelled := map[string]bool{}
	for _, step := range s.Steps {
		for _, c := range step.Namespaces {
			relabelled[c.Name] = true
		}
	}
	for ns := range relabelled {
		fixture, _ := w.Topology.Namespace(ns)
		injection := fixture.Labels[fixtures.InjectionLabel]
		if injection == "" {
			injection = "none"
		}
		if err := w.Deployer.SetInjection(ctx, ns, injection); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := w.Deployer.RestartNamespace(ctx, ns, w.revisions); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ProbeOptions are the probe engine's options from the run's settings.
func (w *World) ProbeOptions() probe.Options {
	return probe.Options{Consecutive: w.Settings.Consecutive, Timeout: w.Settings.Timeout, Parallel: w.Settings.Concurrency}
}

// Probe converges every expected outcome (rewritten for the run's trust domain) and returns the
// results keyed by probe.
func (w *World) Probe(ctx context.Context, expect []scenarios.ProbeOutcome) (map[scenarios.Probe]*probe.Result, error) {
	expect = scenarios.WithTrustDomain(expect, w.Settings.TrustDomain)
	probes, err := probe.ProbesFor(w.Topology, expect)
	if err != nil {
		return nil, err
	}
	results := probe.RunMatrix(ctx, w.Exec, probes, w.ProbeOptions())
	out := make(map[scenarios.Probe]*probe.Result, len(results))
	for i, r := range results {
		out[expect[i].Probe] = r
	}
	return out, nil
}

// Baseline is what every probe observes with no policy: where each scenario must leave the mesh.
func (w *World) Baseline() ([]scenarios.ProbeOutcome, error) {
	return oracle.Predict(oracle.Input{Topology: w.Topology, TrustDomain: w.Settings.TrustDomain})
}

// Teardown undoes Setup: on a cluster the run created, it deletes the cluster (unless
// KEEP_CLUSTER); on an existing cluster it deletes every object it labelled and the Istio it
// installed, and nothing else. It is safe on a partial world and after a cancelled context
// (it uses its own bounded context).
func (w *World) Teardown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if w.provider != nil && w.Created {
		// Deleting the cluster deletes everything; KEEP_CLUSTER keeps it whole for inspection.
		return w.provider.Destroy(ctx)
	}
	if w.Deployer != nil {
		if err := w.Deployer.Cleanup(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if w.installer != nil {
		if w.installedIstio && !w.Created {
			if err := w.installer.Uninstall(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		_ = w.installer.Close()
	}
	if w.provider != nil {
		if err := w.provider.Destroy(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CollectDiagnostics writes what a failed probe spec needs for a post-mortem (pod and sidecar
// logs, the server's Envoy config dump, the policies and events; redacted and capped) and
// returns the folder.
func (w *World) CollectDiagnostics(ctx context.Context, spec, failure string, p scenarios.Probe) (string, error) {
	if w.diagnostics == nil {
		return "", errors.New("diagnostics: no cluster")
	}
	client, _ := w.Topology.Workload(p.From)
	svc, _ := w.Topology.Service(p.To)
	var server fixtures.Workload
	if servers := w.Topology.ServiceWorkloads(svc); len(servers) > 0 {
		server = servers[0]
	}
	return w.diagnostics.Collect(ctx, diagnostics.Request{Spec: spec, Failure: failure, Client: client, Server: server})
}
