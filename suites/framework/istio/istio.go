// Package istio installs, upgrades and removes Istio with Helm's Go SDK (helm.sh/helm/v4), the
// way istio.io documents a Helm install (docs/setup/install/helm, docs/setup/upgrade/helm):
// chart `base` as release istio-base, chart `istiod` as release istiod (or istiod-<revision> for
// a canary), both in istio-system, at the chart version equal to the Istio version. Charts come
// from Istio's chart repository, or from a directory for air-gapped users.
package istio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeclient"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// Names istio.io's Helm instructions use.
const (
	DefaultNamespace = "istio-system"
	BaseRelease      = "istio-base"
	BaseChart        = "base"
	IstiodChart      = "istiod"
	istiodName       = "istiod"
)

// Default bounds: each Helm action, and WaitReady.
const (
	DefaultHelmTimeout  = 5 * time.Minute
	DefaultReadyTimeout = 5 * time.Minute
)

// Options say which Istio to install and how.
type Options struct {
	// Version is the Istio version, which is also the chart version ("" = versions.yaml default).
	Version string
	// Namespace is where istiod runs (default istio-system).
	Namespace string
	// Revision names a canary control plane ("" = the default revision).
	Revision string
	// ChartsDir holds the base and istiod charts for air-gapped installs (--istio-charts):
	// base-<version>.tgz / istiod-<version>.tgz as `helm pull` writes them, unpacked base/ and
	// istiod/ directories, or istio/istio's manifests/charts tree.
	ChartsDir string
	// RepoURL is the chart repository (default: versions.yaml istio.chartRepository).
	RepoURL string
	// Hub and Tag override the images (global.hub, global.tag), e.g. a mirror registry.
	Hub string
	Tag string
	// Requests are istiod's and each sidecar's CPU and memory requests (zero: the default of
	// package settings, Istio's demo profile's).
	Requests settings.Requests
	// Values are extra chart values for istiod, merged over what the options above set.
	Values map[string]any
	// TakeOwnership lets Helm adopt objects that exist without Helm's ownership annotations
	// (e.g. Istio CRDs applied with kubectl).
	TakeOwnership bool
	// CacheDir holds Helm's repository cache (default: a temp dir removed by Close).
	CacheDir string
	// ReadyTimeout bounds WaitReady (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// HelmTimeout bounds each Helm operation (default DefaultHelmTimeout).
	HelmTimeout time.Duration
	// Out receives progress lines and Helm's warnings.
	Out io.Writer
}

// Installer runs Helm actions against one cluster.
type Installer struct {
	opts       Options
	kubeconfig string
	context    string
	kube       kubernetes.Interface
	ext        apiextensionsclient.Interface
	settings   *cli.EnvSettings
	ownCache   bool
	pollEvery  time.Duration
}

// Docker's reference grammar (github.com/distribution/reference): a tag is at most 128 word
// characters, dots and dashes, not starting with either; a hub is a registry host[:port] with an
// optional path.
var (
	tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hubRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
)

// Validate checks the options' form and fills defaults. It talks to nothing, so a bad version,
// revision, hub or tag is reported before anything is created.
func (o *Options) Validate() error {
	if o.Version == "" {
		pins, err := versions.Load()
		if err != nil {
			return err
		}
		o.Version = pins.DefaultIstio
	}
	if _, err := versions.ParseIstioVersion(o.Version); err != nil {
		return err
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return fmt.Errorf("Istio namespace %q: %s", o.Namespace, errs[0])
	}
	if o.Revision != "" {
		if errs := validation.IsDNS1123Label(o.Revision); len(errs) > 0 {
			return fmt.Errorf("Istio revision %q: %s", o.Revision, errs[0])
		}
		// The chart renders the default control plane for revision "" and labels it
		// istio.io/rev=default (istio-discovery templates/deployment.yaml).
		if o.Revision == "default" {
			return fmt.Errorf("Istio revision \"default\" names the unrevisioned control plane; leave the revision empty for it")
		}
	}
	if o.Hub != "" && !hubRE.MatchString(o.Hub) {
		return fmt.Errorf("Istio image hub %q is not a registry/path such as docker.io/istio (no scheme, no tag)", o.Hub)
	}
	if o.Tag != "" && !tagRE.MatchString(o.Tag) {
		return fmt.Errorf("Istio image tag %q is not a valid image tag", o.Tag)
	}
	if o.Requests == (settings.Requests{}) {
		o.Requests = settings.DefaultRequests()
	}
	if err := o.Requests.Validate(); err != nil {
		return fmt.Errorf("Istio resource requests: %w", err)
	}
	if o.ChartsDir != "" {
		info, err := os.Stat(o.ChartsDir)
		if err != nil || !info.IsDir() {
			return fmt.Errorf("Istio charts directory %q is not a directory", o.ChartsDir)
		}
	}
	if o.RepoURL == "" {
		pins, err := versions.Load()
		if err != nil {
			return err
		}
		o.RepoURL = pins.Istio.ChartRepository
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.HelmTimeout == 0 {
		o.HelmTimeout = DefaultHelmTimeout
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return nil
}

// New validates opts and returns an Installer for the cluster of kubeconfig/kubeContext. Only
// the kubeconfig given is used: Helm's own HELM_KUBE* environment overrides are cleared.
func New(kubeconfig, kubeContext string, opts Options) (*Installer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	// No kubeconfig given: kubectl's rules (the KUBECONFIG list, then ~/.kube/config).
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext},
	).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("istio: kubeconfig %s: %w", kubeconfig, err)
	}
	// Readiness polls several objects a second.
	restCfg = kubeclient.Config(restCfg)
	kc, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	in, err := newInstaller(opts, kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	ext, err := apiextensionsclient.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	in.kube, in.ext = kc, ext
	return in, nil
}

func newInstaller(opts Options, kubeconfig, kubeContext string) (*Installer, error) {
	in := &Installer{opts: opts, kubeconfig: kubeconfig, context: kubeContext, pollEvery: time.Second}
	if in.opts.CacheDir == "" {
		dir, err := os.MkdirTemp("", "mtls-conformance-helm-")
		if err != nil {
			return nil, err
		}
		in.opts.CacheDir, in.ownCache = dir, true
	}
	in.settings = in.helmSettings()
	return in, nil
}

// CheckCharts validates opts and fetches and loads both charts, without any cluster: run it
// before creating one, so that a version the chart repository lacks (or an incomplete
// --istio-charts directory) fails the run before anything exists. With Options.CacheDir set the
// fetched charts stay cached for the install.
func CheckCharts(opts Options) error { return checkCharts(opts, BaseChart, IstiodChart) }

// checkCharts validates opts and loads the named charts, without any cluster.
func checkCharts(opts Options, charts ...string) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	in, err := newInstaller(opts, "", "")
	if err != nil {
		return err
	}
	defer in.Close()
	for _, name := range charts {
		if _, err := in.LoadChart(name); err != nil {
			return err
		}
	}
	return nil
}

func (in *Installer) helmSettings() *cli.EnvSettings {
	s := cli.New()
	s.KubeConfig = in.kubeconfig
	s.KubeContext = in.context
	s.KubeToken, s.KubeAPIServer, s.KubeCaFile, s.KubeTLSServerName, s.KubeAsUser = "", "", "", "", ""
	s.KubeAsGroups = nil
	s.KubeInsecureSkipTLSVerify = false
	s.SetNamespace(in.opts.Namespace)
	s.RepositoryConfig = filepath.Join(in.opts.CacheDir, "repositories.yaml")
	s.RepositoryCache = filepath.Join(in.opts.CacheDir, "repository")
	s.ContentCache = filepath.Join(in.opts.CacheDir, "content")
	return s
}

// Close removes the Installer's temporary Helm cache.
func (in *Installer) Close() error {
	if in.ownCache {
		return os.RemoveAll(in.opts.CacheDir)
	}
	return nil
}

// Version is the Istio version this Installer installs.
func (in *Installer) Version() string { return in.opts.Version }

// Options are the validated options this Installer installs with (a copy; Values is shared).
func (in *Installer) Options() Options { return in.opts }

// Namespace is istiod's namespace.
func (in *Installer) Namespace() string { return in.opts.Namespace }

// Revision is the control plane's revision label value ("default" for the unrevisioned one).
func (in *Installer) Revision() string {
	if in.opts.Revision == "" {
		return "default"
	}
	return in.opts.Revision
}

// IstiodRelease is the Helm release name of this control plane: istiod, or istiod-<revision>
// (istio.io docs/setup/upgrade/helm: `helm install istiod-canary istio/istiod --set
// revision=canary`).
func (in *Installer) IstiodRelease() string {
	if in.opts.Revision == "" {
		return istiodName
	}
	return istiodName + "-" + in.opts.Revision
}

// IstiodDeployment is the istiod Deployment's name: the chart names it istiod or
// istiod-<revision> (istio-discovery templates/deployment.yaml).
func (in *Installer) IstiodDeployment() string { return in.IstiodRelease() }

// WithRevision returns an Installer for a canary control plane of the same version and sources.
func (in *Installer) WithRevision(revision string) (*Installer, error) {
	opts := in.opts
	opts.Revision = revision
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	out := *in
	out.opts = opts
	out.ownCache = false // the cache stays owned by the original
	return &out, nil
}

func (in *Installer) logf(format string, args ...any) {
	fmt.Fprintf(in.opts.Out, format+"\n", args...)
}

// helmConfig is an action.Configuration for the Istio namespace, storing releases as Secrets
// (Helm's default driver).
func (in *Installer) helmConfig() (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(in.opts.Out, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := cfg.Init(in.settings.RESTClientGetter(), in.opts.Namespace, "secret"); err != nil {
		return nil, fmt.Errorf("istio: helm: %w", err)
	}
	return cfg, nil
}

// Install installs base (unless a base release exists: a canary shares it) and istiod, then
// waits until istiod is Available and its injection webhook answers.
func (in *Installer) Install(ctx context.Context) error {
	baseChart, istiodChart, err := in.loadBaseAndIstiod()
	if err != nil {
		return err
	}
	if err := in.ensureNamespace(ctx); err != nil {
		return err
	}
	exists, err := in.releaseExists(BaseRelease)
	if err != nil {
		return err
	}
	if !exists {
		if err := in.install(ctx, BaseRelease, baseChart, in.BaseValues()); err != nil {
			return err
		}
	}
	if err := in.install(ctx, in.IstiodRelease(), istiodChart, in.IstiodValues()); err != nil {
		return err
	}
	return in.WaitReady(ctx)
}

// loadBaseAndIstiod loads the base and istiod charts of the Installer's version, both before
// anything is installed or upgraded.
func (in *Installer) loadBaseAndIstiod() (base, istiod chartT, err error) {
	if base, err = in.LoadChart(BaseChart); err != nil {
		return nil, nil, err
	}
	if istiod, err = in.LoadChart(IstiodChart); err != nil {
		return nil, nil, err
	}
	return base, istiod, nil
}

// InstallBase installs only the base chart (CRDs, cluster roles, the default validator).
func (in *Installer) InstallBase(ctx context.Context) (*release.Release, error) {
	return in.installRelease(ctx, BaseChart, BaseRelease, in.BaseValues())
}

// InstallIstiod installs only the istiod chart of this Installer's revision, without waiting.
func (in *Installer) InstallIstiod(ctx context.Context) (*release.Release, error) {
	return in.installRelease(ctx, IstiodChart, in.IstiodRelease(), in.IstiodValues())
}

// installRelease installs one chart as the release name, in the Istio namespace (created when
// absent), and returns the release.
func (in *Installer) installRelease(ctx context.Context, chart, name string, values map[string]any) (*release.Release, error) {
	ch, err := in.LoadChart(chart)
	if err != nil {
		return nil, err
	}
	if err := in.ensureNamespace(ctx); err != nil {
		return nil, err
	}
	if err := in.install(ctx, name, ch, values); err != nil {
		return nil, err
	}
	return in.Release(name)
}

func (in *Installer) install(ctx context.Context, name string, ch chartT, values map[string]any) error {
	cfg, err := in.helmConfig()
	if err != nil {
		return err
	}
	act := action.NewInstall(cfg)
	act.ReleaseName = name
	act.Namespace = in.opts.Namespace
	// Istio's readiness (istiod Available, webhook answering) is checked by WaitReady; Helm only
	// waits for hooks, which Istio's charts do not have.
	act.WaitStrategy = kube.HookOnlyStrategy
	act.Timeout = in.opts.HelmTimeout
	act.TakeOwnership = in.opts.TakeOwnership
	// Adopting objects means taking their fields over from whoever applied them.
	act.ForceConflicts = in.opts.TakeOwnership
	in.logf("helm install %s (chart %s %s) in %s", name, ch.Metadata.Name, ch.Metadata.Version, in.opts.Namespace)
	if _, err := act.RunWithContext(ctx, ch, values); err != nil {
		return fmt.Errorf("istio %s: helm install %s: %w", in.opts.Version, name, err)
	}
	return nil
}

// Upgrade upgrades base and istiod in place to version (helm upgrade, istio.io
// docs/setup/upgrade/helm "in-place upgrade"), then waits for readiness; the Installer then
// reports the new version. tag replaces the image tag override ("" = the chart's own, which for a
// released chart is the version).
func (in *Installer) Upgrade(ctx context.Context, version, tag string) error {
	if _, err := versions.ParseIstioVersion(version); err != nil {
		return err
	}
	next := *in
	next.opts.Version = version
	next.opts.Tag = tag
	if err := next.opts.Validate(); err != nil {
		return err
	}
	baseChart, istiodChart, err := next.loadBaseAndIstiod()
	if err != nil {
		return err
	}
	if err := next.upgrade(ctx, BaseRelease, baseChart, next.BaseValues()); err != nil {
		return err
	}
	if err := next.upgrade(ctx, next.IstiodRelease(), istiodChart, next.IstiodValues()); err != nil {
		return err
	}
	*in = next
	return in.WaitReady(ctx)
}

// UpgradeBase upgrades only the istio-base release to this Installer's base chart and values
// (for a revision, defaultRevision=<revision>), without waiting: the two base steps of a canary
// upgrade (istio.io content/en/docs/setup/upgrade/helm/index.md: `helm upgrade istio-base
// istio/base` before the canary istiod is installed, then `--set defaultRevision=canary` once
// the old istiod is deleted).
func (in *Installer) UpgradeBase(ctx context.Context) error {
	ch, err := in.LoadChart(BaseChart)
	if err != nil {
		return err
	}
	return in.upgrade(ctx, BaseRelease, ch, in.BaseValues())
}

// upgrade runs `helm upgrade name <chart>` with exactly these values and, as install does, the
// Installer's TakeOwnership: a canary's UpgradeBase adopts what its install would. Like install
// it puts no managed-by label on the release (the upgrade engine's own Helm client, replaced by
// UpgradeBase, labelled its base upgrades only): Istio leaves through Uninstall, never through
// the label-driven fixture cleanup (CreatedByAnnotation), and nothing selects releases by label.
func (in *Installer) upgrade(ctx context.Context, name string, ch chartT, values map[string]any) error {
	cfg, err := in.helmConfig()
	if err != nil {
		return err
	}
	act := action.NewUpgrade(cfg)
	act.Namespace = in.opts.Namespace
	// Readiness is WaitReady's, as for install.
	act.WaitStrategy = kube.HookOnlyStrategy
	act.Timeout = in.opts.HelmTimeout
	act.TakeOwnership = in.opts.TakeOwnership
	act.ForceConflicts = in.opts.TakeOwnership
	in.logf("helm upgrade %s to chart %s %s", name, ch.Metadata.Name, ch.Metadata.Version)
	if _, err := act.RunWithContext(ctx, name, ch, values); err != nil {
		return fmt.Errorf("istio %s: helm upgrade %s: %w", in.opts.Version, name, err)
	}
	return nil
}

// Uninstall removes this Installer's istiod release and, for the default revision, the base
// release (Istio's CRDs stay: the chart marks them helm.sh/resource-policy: keep), waits until
// the released objects are gone, and deletes the namespace if the Installer created it.
func (in *Installer) Uninstall(ctx context.Context) error {
	names := []string{in.IstiodRelease()}
	if in.opts.Revision == "" {
		names = append(names, BaseRelease)
	}
	for _, name := range names {
		if err := in.uninstall(name, true); err != nil {
			return err
		}
	}
	if in.opts.Revision != "" {
		return nil
	}
	return in.deleteOwnNamespace(ctx)
}

// UninstallIstiod removes only this control plane's istiod release and waits until its objects
// are gone; istio-base and the namespace stay (a canary upgrade's `helm delete istiod -n
// istio-system`, istio.io content/en/docs/setup/upgrade/helm/index.md). Unlike Uninstall, a
// release that is not there is an error: the upgrade installed it.
func (in *Installer) UninstallIstiod() error { return in.uninstall(in.IstiodRelease(), false) }

// uninstall runs `helm uninstall name`; ignoreNotFound makes a missing release no error
// (teardown may run after a failed install).
func (in *Installer) uninstall(name string, ignoreNotFound bool) error {
	cfg, err := in.helmConfig()
	if err != nil {
		return err
	}
	act := action.NewUninstall(cfg)
	act.IgnoreNotFound = ignoreNotFound
	// Wait until everything the release made is gone.
	act.WaitStrategy = kube.StatusWatcherStrategy
	act.Timeout = in.opts.HelmTimeout
	in.logf("helm uninstall %s", name)
	if _, err := act.Run(name); err != nil {
		return fmt.Errorf("istio %s: helm uninstall %s: %w", in.opts.Version, name, err)
	}
	return nil
}

// Release returns the deployed Helm release called name.
func (in *Installer) Release(name string) (*release.Release, error) {
	cfg, err := in.helmConfig()
	if err != nil {
		return nil, err
	}
	r, err := action.NewGet(cfg).Run(name)
	if err != nil {
		return nil, fmt.Errorf("istio: helm release %s: %w", name, err)
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("istio: helm release %s has unexpected type %T", name, r)
	}
	return rel, nil
}

func (in *Installer) releaseExists(name string) (bool, error) {
	_, err := in.Release(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return false, nil
	}
	return err == nil, err
}

// CreatedByAnnotation marks an Istio namespace the Installer created, which Uninstall may
// delete, and the Gateway API CRDs InstallAmbient created, which UninstallAmbient deletes. It is deliberately not the suite's managed-by label: the fixture cleanup must never
// delete istio-system under a running control plane (its cluster-scoped webhooks would stay and
// block pod creation); Istio leaves only through Uninstall.
const CreatedByAnnotation = "mtls-conformance.io/created-by"

// ensureNamespace creates the Istio namespace, annotated as the Installer's, when it does not
// exist.
func (in *Installer) ensureNamespace(ctx context.Context) error {
	_, err := in.kube.CoreV1().Namespaces().Get(ctx, in.opts.Namespace, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("istio: namespace %s: %w", in.opts.Namespace, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: in.opts.Namespace, Annotations: map[string]string{CreatedByAnnotation: installerCreated}}}
	if _, err := in.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: mesh.FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("istio: creating namespace %s: %w", in.opts.Namespace, err)
	}
	return nil
}

// deleteOwnNamespace deletes the Istio namespace when the Installer created it and waits until it
// is gone; a namespace that existed before is left alone.
func (in *Installer) deleteOwnNamespace(ctx context.Context) error {
	ns, err := in.kube.CoreV1().Namespaces().Get(ctx, in.opts.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Annotations[CreatedByAnnotation] != installerCreated {
		return nil
	}
	if err := in.kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ns.UID}}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("istio: deleting namespace %s: %w", ns.Name, err)
	}
	return pollUntil(ctx, in.pollEvery, in.opts.HelmTimeout, func(ctx context.Context) (bool, string, error) {
		_, err := in.kube.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "namespace " + ns.Name + " still terminating", err
	})
}
