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
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/diagnostics"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
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

	diagnostics *diagnostics.Collector
	fetcherOnce sync.Once
	fetcher     *authcheck.Fetcher
	fetcherErr  error
	// dumps replaces the cluster's sidecars as the barrier's source (tests); barrierInterval
	// its time between reads (0: authcheck.DefaultBarrierInterval).
	dumps           authcheck.DumpSource
	barrierInterval time.Duration
	// ztunnels replaces the cluster's ztunnels and pods as the ambient barrier's source (tests);
	// ztunnelDaemonSet is the run's ztunnel DaemonSet (DATAPLANE=ambient).
	ztunnels         ztunnelSource
	ztunnelDaemonSet types.NamespacedName
	// waypoints replaces the cluster's waypoint pods as the ambient barrier's source (tests).
	waypoints waypointSource
	provider  *cluster.Provider
	// variant is how the run's fixtures differ from the manifests (settings.FixtureVariant).
	variant        fixtures.Variant
	installer      *istio.Installer
	installedIstio bool
	// installedAmbient: this run installed istio-cni and ztunnel (DATAPLANE=ambient).
	installedAmbient bool
	// installIstio installs base and istiod and waits until istiod serves (nil: Installer.Install);
	// a test on the real apiserver, where no istiod runs, installs the charts without the wait.
	installIstio func(context.Context, *istio.Installer) error
	revisions    []string
	run          *report.Run
	out          io.Writer
}

// New prepares a world for a run without touching any cluster. Register Teardown right after
// it (before Setup), so an interrupt in the middle of Setup still undoes what was created.
func New(s settings.Settings, run *report.Run, out io.Writer) (*World, error) {
	variant, topo, err := runFixtures(s)
	if err != nil {
		return nil, err
	}
	w := &World{Settings: s, Topology: topo, variant: variant, run: run, out: out}
	w.Env.ClusterMode, w.Env.Topology = s.ClusterMode, TopologyText(s)
	return w, nil
}

// Setup creates or connects to the cluster, installs or detects Istio, and deploys the
// fixtures; each stage is an infrastructure step of the run.
func (w *World) Setup(ctx context.Context) error {
	s, run := w.Settings, w.run
	// A version the chart repository lacks fails here, before any cluster exists.
	if s.ClusterMode == settings.ModeKind || s.InstallIstio {
		if err := run.Step(StepIstio, func() error { return CheckCharts(w.Settings, w.out) }); err != nil {
			return err
		}
	}
	// The environment is recorded after each stage, so a report of a failed setup still says
	// what it ran on.
	defer func() { _ = run.SetEnvironment(w.Env) }()
	if err := run.Step(StepCluster, func() error { return w.setupCluster(ctx) }); err != nil {
		return err
	}
	_ = run.SetEnvironment(w.Env)
	if err := run.Step(StepIstio, func() error { return w.setupIstio(ctx) }); err != nil {
		return err
	}
	_ = run.SetEnvironment(w.Env)
	if err := run.Step(StepFixtures, func() error { return w.setupFixtures(ctx, run.ID) }); err != nil {
		return err
	}
	kc, err := diagnostics.NewKubeCluster(w.Config)
	if err != nil {
		return err
	}
	w.diagnostics = &diagnostics.Collector{Cluster: kc, Dir: run.DiagnosticsDir()}
	return nil
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
	p, err := cluster.NewKind(s, w.out)
	if err != nil {
		return err
	}
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
				w.revisions = append(w.revisions, d.Revision)
			}
		}
		if err := w.checkExistingIstio(ctx, found); err != nil {
			return err
		}
		if err := w.checkAmbientInstalled(ctx, found); err != nil {
			return err
		}
		return CheckInstalledVersion(s, w.Env.IstioVersion)
	}
	if !w.Created && !s.InstallIstio {
		return fmt.Errorf("%s; rerun with --install-istio (INSTALL_ISTIO=1) to install Istio %s with Helm", found.Summary(), s.IstioVersion)
	}
	inst, err := istio.New(w.Kubeconfig, s.Context, w.istioOptions())
	if err != nil {
		return err
	}
	w.installer = inst
	// Set before Install: Helm leaves what it created when an install fails or is interrupted,
	// and Teardown must uninstall that too.
	w.installedIstio = true
	if err := w.loadImages(ctx, inst); err != nil {
		return err
	}
	install := inst.Install
	if w.installIstio != nil {
		install = func(ctx context.Context) error { return w.installIstio(ctx, inst) }
	}
	if err := install(ctx); err != nil {
		return err
	}
	if err := w.installAmbient(ctx, inst); err != nil {
		return err
	}
	w.Env.IstioVersion = inst.Version()
	return nil
}

// checkExistingIstio holds an Istio the run did not install to what the run asks: the requested
// version (only when the user asked for one), a control plane that injects namespaces labelled
// istio-injection=enabled, and the trust domain the expectations use.
func (w *World) checkExistingIstio(ctx context.Context, found *cluster.IstioInstallation) error {
	s := w.Settings
	if s.IstioVersion != "" && s.IstioVersion != w.Env.IstioVersion {
		return fmt.Errorf("the cluster runs Istio %q, not the requested %s (%s); leave ISTIO_VERSION unset to test what is installed", w.Env.IstioVersion, s.IstioVersion, found.Summary())
	}
	kube, err := kubernetes.NewForConfig(w.Config)
	if err != nil {
		return err
	}
	// `istioctl tag set default` makes a revision's injector also serve istio-injection=enabled
	// (istio-control/istio-discovery templates/revision-tags-mwc.yaml, label istio.io/tag).
	tags, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: "istio.io/tag=default"})
	if err != nil {
		return fmt.Errorf("listing Istio's revision tags: %w", err)
	}
	if len(tags.Items) > 0 && !slices.Contains(w.revisions, "default") {
		w.revisions = append(w.revisions, "default")
	}
	// Ambient fixtures ask no namespace for injection (fixtures.Variant.Ambient).
	if !s.Ambient() && !slices.Contains(w.revisions, "default") {
		return fmt.Errorf("no control plane injects namespaces labelled istio-injection=enabled (revisions %v, no `default` tag): the fixtures rely on it; run `istioctl tag set default --revision %s`", w.revisions, w.revisions[0])
	}
	td, err := meshTrustDomain(ctx, kube, found)
	if err != nil {
		return err
	}
	if td != s.TrustDomain {
		return fmt.Errorf("the mesh's trust domain is %q, the expectations use %q: pass --trust-domain=%s", td, s.TrustDomain, td)
	}
	return nil
}

// meshTrustDomain reads meshConfig.trustDomain from the default revision's mesh ConfigMap
// ("istio", or "istio-<rev>"; istio-discovery templates/configmap.yaml); unset means
// cluster.local.
func meshTrustDomain(ctx context.Context, kube kubernetes.Interface, found *cluster.IstioInstallation) (string, error) {
	for _, d := range found.Istiods {
		name := "istio"
		if d.Revision != "default" {
			name += "-" + d.Revision
		}
		cm, err := kube.CoreV1().ConfigMaps(d.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		var mesh struct {
			TrustDomain string `json:"trustDomain"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data["mesh"]), &mesh); err != nil {
			return "", fmt.Errorf("ConfigMap %s/%s: mesh: %w", d.Namespace, name, err)
		}
		if mesh.TrustDomain == "" {
			return fixtures.DefaultTrustDomain, nil
		}
		return mesh.TrustDomain, nil
	}
	return fixtures.DefaultTrustDomain, nil
}

func (w *World) istioOptions() istio.Options { return IstioOptions(w.Settings, w.out) }

// IstioOptions are the Helm install options a run with settings s uses; preflight checks the
// charts with the same. DATAPLANE=ambient installs istiod with the ambient profile
// (istio.AmbientIstiodValues: PILOT_ENABLE_AMBIENT, the mesh's HBONE metadata).
func IstioOptions(s settings.Settings, out io.Writer) istio.Options {
	o := istio.Options{
		Version: s.IstioVersion, ChartsDir: s.IstioCharts, Hub: s.IstioHub, Tag: s.IstioTag, Requests: s.IstioRequests, Out: out,
		// The chart defaults to cluster.local (istio-discovery values.yaml meshConfig); the
		// expectations' SPIFFE IDs use the run's trust domain.
		Values: map[string]any{"meshConfig": map[string]any{"trustDomain": s.TrustDomain}},
	}
	if s.Ambient() {
		maps.Copy(o.Values, istio.AmbientIstiodValues())
	}
	return o
}

func (w *World) setupFixtures(ctx context.Context, runID string) error {
	d, err := deploy.New(w.Config, runID)
	if err != nil {
		return err
	}
	w.Deployer = d
	d.Fixtures = w.variant
	// An interrupted earlier run can leave policies and relabelled namespaces behind: start from
	// the fixtures as defined.
	left, err := d.ListManaged(ctx)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		fmt.Fprintf(w.out, "removing %d objects an earlier run left behind\n", len(left))
		if err := d.Cleanup(ctx); err != nil {
			return err
		}
	}
	if err := d.ApplyFixtures(ctx); err != nil {
		return err
	}
	if err := d.WaitFixturesReady(ctx, w.revisions); err != nil {
		return err
	}
	if err := w.awaitEnrolled(ctx); err != nil {
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

// ApplyStep moves the mesh to step i of s — deletions, namespace relabels with restarts, then
// the step's objects in order (each younger than the last) — and waits until the step is in
// force on every sidecar (the propagation barrier, recorded for the step). A step whose changes
// are made but not in force returns a *authcheck.PropagationError: its probes would assert a
// state the mesh is not in.
func (w *World) ApplyStep(ctx context.Context, s *scenarios.Scenario, i int) error {
	step := s.Steps[i]
	before := w.pushSnapshot(ctx, len(step.Delete)+len(step.Apply) > 0)
	if err := w.Deployer.DeleteObjects(ctx, step.Delete); err != nil {
		return err
	}
	for _, c := range step.Namespaces {
		if err := w.changeNamespace(ctx, c.Name, c.Injection); err != nil {
			return err
		}
	}
	if err := w.applyWaypoints(ctx, step.Waypoints); err != nil {
		return fmt.Errorf("%s step %d (%s): %w", s.Name, i+1, step.Name, err)
	}
	if err := w.Deployer.ApplyObjects(ctx, step.Apply); err != nil {
		return err
	}
	return w.awaitInForce(ctx, s.Name, step.Name, i, s.StateAt(w.Topology, i), before)
}

// ResetScenario removes what s left in force (its objects, its waypoints) and puts relabelled
// namespaces back as the fixtures define them, restarting their pods, so no scenario leaks into the next; then it waits
// until the baseline is in force on every sidecar (recorded as the step report.ResetStep).
func (w *World) ResetScenario(ctx context.Context, s *scenarios.Scenario) error {
	// Every object any step applies: a scenario that failed half-way has not reached the last
	// step's state (DeleteObjects passes over what is already gone).
	var keys []string
	for _, step := range s.Steps {
		for _, o := range step.Apply {
			if !slices.Contains(keys, o.Key()) {
				keys = append(keys, o.Key())
			}
		}
	}
	var errs []error
	before := w.pushSnapshot(ctx, w.anyPresent(ctx, keys))
	if err := w.Deployer.DeleteObjects(ctx, keys); err != nil {
		errs = append(errs, err)
	}
	relabelled := map[string]bool{}
	for _, step := range s.Steps {
		for _, c := range step.Namespaces {
			relabelled[c.Name] = true
		}
	}
	for _, ns := range waypointNamespaces(s) {
		if err := w.Deployer.RemoveWaypoint(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	for ns := range relabelled {
		fixture, _ := w.Topology.Namespace(ns)
		injection := fixture.Labels[fixtures.InjectionLabel]
		switch {
		case w.Settings.Ambient() && fixture.Enrolled():
			injection = "enabled"
		case w.Settings.Ambient(), injection == "":
			injection = "none"
		}
		if err := w.changeNamespace(ctx, ns, injection); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, w.awaitInForce(ctx, s.Name, report.ResetStep, len(s.Steps), BaselineState(w.Topology), before))
	}
	return errors.Join(errs...)
}

// changeNamespace makes one of a step's namespace changes (injection: enabled, disabled or
// none). On the sidecar data plane it relabels the namespace's injection and restarts its pods:
// the webhook acts on pod CREATE only. On the ambient one "enabled" enrols the namespace and
// anything else takes it out, without a restart, and it waits until the istio-cni node agent has
// captured (or released) every running pod: until then a probe would see the old data plane.
func (w *World) changeNamespace(ctx context.Context, ns, injection string) error {
	if !w.Settings.Ambient() {
		if err := w.Deployer.SetInjection(ctx, ns, injection); err != nil {
			return err
		}
		return w.Deployer.RestartNamespace(ctx, ns, w.revisions)
	}
	enrolled := injection == "enabled"
	if err := w.Deployer.SetEnrolment(ctx, ns, enrolled); err != nil {
		return err
	}
	return w.awaitCapture(ctx, []string{ns}, enrolled)
}

// anyPresent says whether any of the objects ("Kind namespace/name") exists: deleting only
// absent ones changes nothing istiod would push. When the cluster cannot say, it assumes so.
func (w *World) anyPresent(ctx context.Context, keys []string) bool {
	managed, err := w.Deployer.ListManaged(ctx)
	if err != nil {
		return len(keys) > 0
	}
	kinds := map[string]string{"peerauthentications": policy.KindPeerAuthentication, "destinationrules": policy.KindDestinationRule}
	for _, m := range managed {
		if kind, ok := kinds[m.Resource]; ok && slices.Contains(keys, kind+" "+m.Namespace+"/"+m.Name) {
			return true
		}
	}
	return false
}

// ProbeOptions are the probe engine's options from the run's settings.
func (w *World) ProbeOptions() probe.Options {
	return probe.Options{Consecutive: w.Settings.Consecutive, Timeout: w.Settings.Timeout, Parallel: w.Settings.Concurrency}
}

// Probe converges every expected outcome and returns the results keyed by probe. The
// expectations must already be in the run's trust domain (StepExpectations, Baseline): an XFCC
// identity in another is an error, not a probe that can never converge.
func (w *World) Probe(ctx context.Context, expect []scenarios.ProbeOutcome) (map[scenarios.Probe]*probe.Result, error) {
	prefix := "spiffe://" + w.Settings.TrustDomain + "/"
	for _, e := range expect {
		if x := e.XFCC; x != nil && (!strings.HasPrefix(x.By, prefix) || !strings.HasPrefix(x.URI, prefix)) {
			return nil, fmt.Errorf("%s expects XFCC By=%s URI=%s, outside the run's trust domain %s (use StepExpectations)", e.Probe, x.By, x.URI, w.Settings.TrustDomain)
		}
	}
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

// Baseline is what every probe observes with no policy (BaselineState): where each scenario must
// leave the mesh. In ambient it is the ambient oracle's (ambientBaseline).
func (w *World) Baseline() ([]scenarios.ProbeOutcome, error) {
	if w.Settings.Ambient() {
		return w.ambientBaseline()
	}
	return oracle.Predict(oracle.Input{Topology: w.Topology, TrustDomain: w.Settings.TrustDomain})
}

// Teardown undoes Setup: on a cluster the run created, it deletes the cluster (unless
// KEEP_CLUSTER); on an existing cluster it deletes every object it labelled and the Istio it
// installed, and nothing else. It is safe on a partial world and after a cancelled context
// (it uses its own bounded context).
func (w *World) Teardown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if w.installer != nil {
		defer w.installer.Close() // Helm's temporary chart cache
	}
	if w.provider != nil && w.Created {
		// Deleting the cluster deletes everything; KEEP_CLUSTER keeps it whole for inspection.
		return w.provider.Destroy(ctx)
	}
	var errs []error
	if w.Deployer != nil {
		if err := w.Deployer.Cleanup(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if w.installer != nil && w.installedAmbient {
		// ztunnel and istio-cni go first: they depend on istiod (as Istio's ambient Helm
		// uninstall orders it).
		if err := w.installer.UninstallAmbient(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if w.installer != nil && w.installedIstio {
		if err := w.installer.Uninstall(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if w.provider != nil {
		// A reused cluster is kept; this removes the temporary kubeconfig.
		if err := w.provider.Destroy(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CollectDiagnostics writes what a failed probe spec needs for a post-mortem (its failure, pod
// and sidecar logs, both sidecars' Envoy config dumps, the policies and events; redacted and
// capped) and returns the folder.
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
