// Package cluster stands up the Kubernetes cluster the suite runs in: a kind cluster created
// through kind's Go library (sigs.k8s.io/kind/pkg/cluster) behind e2e-framework's
// E2EClusterProvider, so envfuncs.CreateCluster / DestroyCluster / ExportClusterLogs /
// LoadImageToCluster work with it, or an existing cluster reached through a kubeconfig.
package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
	"sigs.k8s.io/e2e-framework/support"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// Provider is a kind cluster driven through kind's Go library. Its options come from the run's
// settings, resolved once by package settings (an explicit flag over the environment): the
// provider never reads a setting from the environment itself, which would let a variable left
// in a shell override a flag. It reads only what kind and kubectl read (the runtime selection,
// KUBECONFIG).
type Provider struct {
	name       string
	nodeImage  string
	workers    int
	reuse      bool
	keep       bool
	reportsDir string
	// kubeconfigPath is where the cluster's kubeconfig is written; empty means a fresh temp file.
	kubeconfigPath string
	// allowUserKubeconfig permits kubeconfigPath to be the user's own kubeconfig.
	allowUserKubeconfig bool
	// patch adds containerd/kubeadm patches to the rendered config (KIND_CONFIG_PATCH).
	patch        *ConfigPatch
	waitForReady time.Duration
	// controlPlaneTimeout bounds WaitForControlPlane, which polls every controlPlanePoll.
	controlPlaneTimeout time.Duration
	controlPlanePoll    time.Duration
	// getenv reads KIND_EXPERIMENTAL_PROVIDER and KUBECONFIG, never a setting.
	getenv func(string) string
	out    io.Writer
	// optErr records a bad option: the interface's With* methods cannot return errors.
	optErr error

	runtime DetectedRuntime
	kind    *kindcluster.Provider
	rest    *rest.Config
	// created is true when this provider created the cluster (and so may delete it).
	created bool
	tempDir string
}

var (
	_ support.E2EClusterProvider                = (*Provider)(nil)
	_ support.E2EClusterProviderWithImageLoader = (*Provider)(nil)
)

// NewProvider returns a provider with the defaults (DefaultName, the default Istio's node image
// from versions.yaml); pass it to envfuncs.CreateCluster (which calls SetDefaults, WithName and
// WithOpts), or set the run's settings with WithName, WithVersion and WithOpts.
func NewProvider() *Provider {
	p := &Provider{getenv: os.Getenv, out: io.Discard}
	p.SetDefaults()
	return p
}

// SetDefaults fills unset fields: the name (DefaultName) and the node image (the one
// versions.yaml pins for the default Istio).
func (p *Provider) SetDefaults() support.E2EClusterProvider {
	if p.getenv == nil {
		p.getenv = os.Getenv
	}
	if p.out == nil {
		p.out = io.Discard
	}
	if p.name == "" {
		p.name = DefaultName
	}
	if p.nodeImage == "" {
		if pins, err := versions.Load(); err != nil {
			p.optErr = err
		} else if img, err := pins.NodeImageFor(pins.DefaultIstio); err != nil {
			p.optErr = err
		} else {
			p.nodeImage = img
		}
	}
	if p.waitForReady == 0 {
		p.waitForReady = 3 * time.Minute
	}
	if p.controlPlaneTimeout == 0 {
		p.controlPlaneTimeout = 3 * time.Minute
	}
	return p
}

// WithName sets the kind cluster name.
func (p *Provider) WithName(name string) support.E2EClusterProvider {
	p.name = name
	return p
}

// WithVersion selects the Kubernetes version: a version one of kind's pinned node images carries
// ("v1.36.4") or a full kindest/node image pinned by digest.
func (p *Provider) WithVersion(version string) support.E2EClusterProvider {
	img, err := resolveNodeImage(version)
	if err != nil {
		p.optErr = err
		return p
	}
	p.nodeImage = img
	return p
}

func resolveNodeImage(version string) (string, error) {
	if strings.ContainsAny(version, "/:@") {
		// An image reference: kind's own, a mirror's or one built locally (CheckNodeImage).
		if _, err := CheckNodeImage(version); err != nil {
			return "", err
		}
		return version, nil
	}
	pins, err := versions.Load()
	if err != nil {
		return "", err
	}
	var tags []string
	for _, ref := range pins.Kind.NodeImages {
		img, _ := versions.ParseNodeImage(ref)
		if img.Kubernetes == version {
			return ref, nil
		}
		tags = append(tags, img.Kubernetes)
	}
	return "", fmt.Errorf("kind %s has no node image for Kubernetes %q (it ships %s); pass a kindest/node image pinned by digest instead", pins.Kind.Version, version, strings.Join(tags, ", "))
}

// WithPath is part of E2EClusterProvider for providers backed by a binary. kind is linked in as a
// library here, so there is no binary to point at; the interface allows such providers to
// ignore it (sigs.k8s.io/e2e-framework pkg/types/types.go).
func (p *Provider) WithPath(string) support.E2EClusterProvider { return p }

// WithOpts applies options made by the With* functions of this package.
func (p *Provider) WithOpts(opts ...support.ClusterOpts) support.E2EClusterProvider {
	for _, o := range opts {
		o(p)
	}
	return p
}

func option(f func(*Provider)) support.ClusterOpts {
	return func(c support.E2EClusterProvider) {
		if p, ok := c.(*Provider); ok {
			f(p)
		}
	}
}

// WithKubeconfigPath writes the kubeconfig to path instead of a temp file. The user's own
// kubeconfig ($KUBECONFIG, ~/.kube/config) is refused unless WithUserKubeconfig is also given.
func WithKubeconfigPath(path string) support.ClusterOpts {
	return option(func(p *Provider) { p.kubeconfigPath = path })
}

// WithUserKubeconfig allows WithKubeconfigPath to name the user's own kubeconfig, into which kind
// then merges its context (as `kind create cluster` does).
func WithUserKubeconfig() support.ClusterOpts {
	return option(func(p *Provider) { p.allowUserKubeconfig = true })
}

// WithReuse uses an existing kind cluster of the same name instead of failing (--reuse-cluster).
func WithReuse(reuse bool) support.ClusterOpts {
	return option(func(p *Provider) { p.reuse = reuse })
}

// WithKeep keeps the cluster in Destroy (--keep-cluster).
func WithKeep(keep bool) support.ClusterOpts {
	return option(func(p *Provider) { p.keep = keep })
}

// WithReportsDir sets where kind's logs are exported when creation fails (--reports-dir; default:
// DefaultReportsDir).
func WithReportsDir(dir string) support.ClusterOpts {
	return option(func(p *Provider) { p.reportsDir = dir })
}

// WithConfigPatch adds a kind config patch (containerd, kubeadm, default CNI) to the cluster.
func WithConfigPatch(patch *ConfigPatch) support.ClusterOpts {
	return option(func(p *Provider) { p.patch = patch })
}

// WithWorkers adds worker nodes.
func WithWorkers(n int) support.ClusterOpts {
	return option(func(p *Provider) { p.workers = n })
}

// WithOutput sends kind's progress messages to w (e.g. GinkgoWriter).
func WithOutput(w io.Writer) support.ClusterOpts {
	return option(func(p *Provider) { p.out = w })
}

// WithEnv replaces os.Getenv for what kind and kubectl read from the environment (tests).
func WithEnv(getenv func(string) string) support.ClusterOpts {
	return option(func(p *Provider) { p.getenv = getenv })
}

func (p *Provider) keeping() bool { return p.keep }

func (p *Provider) reusing() bool { return p.reuse }

// Name is the kind cluster name.
func (p *Provider) Name() string { return p.name }

// NodeImage is the node image the cluster is (or will be) created with.
func (p *Provider) NodeImage() string { return p.nodeImage }

// Created reports whether this provider created the cluster, as opposed to reusing one. Only a
// created cluster is deleted by Destroy, and mesh-wide scenarios run freely only there.
func (p *Provider) Created() bool { return p.created }

// Create creates the cluster. args are a subset of `kind create cluster` flags: --image,
// --retain (keep nodes on failure), --wait DURATION, --workers N.
func (p *Provider) Create(ctx context.Context, args ...string) (string, error) {
	fs := flag.NewFlagSet("kind create cluster", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	image := fs.String("image", "", "node image")
	retain := fs.Bool("retain", false, "keep nodes when creation fails")
	waitFor := fs.Duration("wait", 0, "wait for the control plane")
	workers := fs.Int("workers", p.workers, "worker nodes")
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("kind cluster %s: %w", p.name, err)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("kind cluster %s: unexpected argument %q", p.name, fs.Arg(0))
	}
	if *image != "" {
		p.WithVersion(*image)
	}
	if *waitFor > 0 {
		p.waitForReady = *waitFor
	}
	p.workers = *workers
	if p.optErr != nil {
		return "", fmt.Errorf("kind cluster %s: %w", p.name, p.optErr)
	}
	raw, err := RenderConfigYAML(ConfigSpec{Name: p.name, NodeImage: p.nodeImage, Workers: p.workers, Patch: p.patch})
	if err != nil {
		return "", err
	}
	return p.create(ctx, kindcluster.CreateWithRawConfig(raw), *retain)
}

// CreateWithConfig creates the cluster from a kind config file; the pinned node image still
// applies to every node (kind's CreateWithNodeImage) so the Kubernetes version stays inside the
// chosen Istio's range.
func (p *Provider) CreateWithConfig(ctx context.Context, configFile string) (string, error) {
	if p.optErr != nil {
		return "", fmt.Errorf("kind cluster %s: %w", p.name, p.optErr)
	}
	if _, err := os.Stat(configFile); err != nil {
		return "", fmt.Errorf("kind cluster %s: config: %w", p.name, err)
	}
	return p.create(ctx, kindcluster.CreateWithConfigFile(configFile), false)
}

func (p *Provider) create(ctx context.Context, configOpt kindcluster.CreateOption, retainOnFailure bool) (string, error) {
	kubeconfig, err := p.checkKubeconfigPath()
	if err != nil {
		return "", err
	}
	// Nothing is created before the runtime has answered.
	if err := p.connectRuntime(ctx); err != nil {
		return "", err
	}
	existing, err := p.kind.List()
	if err != nil {
		return "", fmt.Errorf("kind cluster %s: listing clusters with %s: %w", p.name, p.runtime.Binary, err)
	}
	if slices.Contains(existing, p.name) {
		if !p.reusing() {
			return "", fmt.Errorf("kind cluster %q already exists; pass --reuse-cluster (REUSE_CLUSTER=1) to run on it, or delete it with: kind delete cluster --name %s", p.name, p.name)
		}
		return p.adopt(ctx, kubeconfig)
	}
	if kubeconfig == "" {
		if kubeconfig, err = p.tempKubeconfig(); err != nil {
			return "", err
		}
	}
	if warning, _ := CheckNodeImage(p.nodeImage); warning != "" {
		fmt.Fprintf(p.out, "warning: %s\n", warning)
	}
	fmt.Fprintf(p.out, "creating kind cluster %s (%s, node image %s)\n", p.name, p.runtime.Binary, p.nodeImage)
	err = p.kind.Create(p.name,
		configOpt,
		kindcluster.CreateWithNodeImage(p.nodeImage),
		kindcluster.CreateWithKubeconfigPath(kubeconfig),
		// Keep the nodes on failure long enough to export their logs; deleted below.
		kindcluster.CreateWithRetain(true),
		kindcluster.CreateWithWaitForReady(p.waitForReady),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	)
	if err != nil {
		logs := p.exportFailureLogs()
		if !retainOnFailure && !p.keeping() {
			if derr := p.kind.Delete(p.name, kubeconfig); derr != nil {
				err = errors.Join(err, fmt.Errorf("deleting the failed cluster: %w", derr))
			}
			p.removeTemp()
		}
		return "", fmt.Errorf("kind cluster %s: creation failed (%s): %w", p.name, logs, err)
	}
	p.created = true
	p.kubeconfigPath = kubeconfig
	// kind's library has no context: a Ctrl-C during creation is honoured once it returns.
	if ctx.Err() != nil {
		derr := p.Destroy(context.WithoutCancel(ctx))
		return "", errors.Join(fmt.Errorf("kind cluster %s: interrupted: %w", p.name, ctx.Err()), derr)
	}
	if err := p.loadRESTConfig(); err != nil {
		return "", err
	}
	if err := p.waitReady(ctx); err != nil {
		err = fmt.Errorf("%w (%s)", err, p.exportFailureLogs())
		if !retainOnFailure && !p.keeping() {
			if derr := p.Destroy(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, fmt.Errorf("deleting the cluster: %w", derr))
			}
		}
		return "", err
	}
	return kubeconfig, nil
}

// waitReady holds the run until the new cluster's nodes and CoreDNS are ready.
func (p *Provider) waitReady(ctx context.Context) error {
	client, err := klient.New(p.rest)
	if err != nil {
		return fmt.Errorf("kind cluster %s: %w", p.name, err)
	}
	return p.WaitForControlPlane(ctx, client)
}

// adopt writes the kubeconfig of an existing kind cluster and uses it without owning it.
func (p *Provider) adopt(ctx context.Context, kubeconfig string) (string, error) {
	var err error
	if kubeconfig == "" {
		if kubeconfig, err = p.tempKubeconfig(); err != nil {
			return "", err
		}
	}
	if err := p.kind.ExportKubeConfig(p.name, kubeconfig, false); err != nil {
		return "", fmt.Errorf("kind cluster %s: writing kubeconfig: %w", p.name, err)
	}
	p.created = false
	p.kubeconfigPath = kubeconfig
	fmt.Fprintf(p.out, "reusing kind cluster %s\n", p.name)
	if err := p.loadRESTConfig(); err != nil {
		return "", err
	}
	// A reused cluster's nodes may just have restarted (docker restart, a laptop's sleep).
	if err := p.waitReady(ctx); err != nil {
		return "", err
	}
	return kubeconfig, nil
}

func (p *Provider) connectRuntime(ctx context.Context) error {
	if p.kind != nil {
		return nil
	}
	det, err := DetectRuntime(ctx, p.getenv)
	if err != nil {
		return err
	}
	p.runtime = det
	p.kind = kindcluster.NewProvider(kindcluster.ProviderWithLogger(newKindLogger(p.out)), det.ProviderOption())
	return nil
}

// checkKubeconfigPath refuses to write into the user's own kubeconfig unless asked to.
func (p *Provider) checkKubeconfigPath() (string, error) {
	if p.kubeconfigPath == "" || p.allowUserKubeconfig {
		return p.kubeconfigPath, nil
	}
	target, err := filepath.Abs(p.kubeconfigPath)
	if err != nil {
		return "", err
	}
	for _, user := range userKubeconfigs(p.getenv) {
		if abs, err := filepath.Abs(user); err == nil && abs == target {
			return "", fmt.Errorf("kind cluster %s: refusing to write the kubeconfig into %s, the user's own kubeconfig; choose another path or allow it explicitly", p.name, target)
		}
	}
	return p.kubeconfigPath, nil
}

// userKubeconfigs are the files kubectl would read: $KUBECONFIG's list, else ~/.kube/config
// (client-go tools/clientcmd loader.go NewDefaultClientConfigLoadingRules).
func userKubeconfigs(getenv func(string) string) []string {
	if env := getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		return filepath.SplitList(env)
	}
	return []string{clientcmd.RecommendedHomeFile}
}

func (p *Provider) tempKubeconfig() (string, error) {
	dir, err := os.MkdirTemp("", "mtls-conformance-kubeconfig-")
	if err != nil {
		return "", err
	}
	p.tempDir = dir
	return filepath.Join(dir, "kubeconfig"), nil
}

func (p *Provider) removeTemp() {
	if p.tempDir != "" {
		os.RemoveAll(p.tempDir)
		p.tempDir = ""
	}
}

func (p *Provider) loadRESTConfig() error {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: p.kubeconfigPath},
		&clientcmd.ConfigOverrides{CurrentContext: p.GetKubectlContext()},
	).ClientConfig()
	if err != nil {
		return fmt.Errorf("kind cluster %s: kubeconfig %s: %w", p.name, p.kubeconfigPath, err)
	}
	p.rest = cfg
	return nil
}

// exportFailureLogs collects kind's logs under the reports directory and says where they are.
func (p *Provider) exportFailureLogs() string {
	dir := filepath.Join(p.resolvedReportsDir(), "kind-logs-"+p.name)
	err := p.kind.CollectLogs(p.name, dir)
	if err == nil {
		return "kind logs in " + dir
	}
	// kind's collector execs into the nodes (journalctl, crictl, /var/log): a node whose
	// container has already exited yields none of it. What tells why it died is its container's
	// own output and state, which the runtime still has.
	if kept := p.saveNodeContainers(dir, err); kept > 0 {
		return fmt.Sprintf("kind logs in %s (partial: %d node containers' output and state; kind's collector failed: %s)", dir, kept, firstLine(err.Error()))
	}
	return fmt.Sprintf("exporting kind logs to %s failed: %v", dir, err)
}

// saveNodeContainers writes each node container's output (`docker logs`) and state (`docker
// inspect`) under dir, with the collector's error, and returns how many nodes it saved.
func (p *Provider) saveNodeContainers(dir string, collectErr error) int {
	nodeList, err := p.kind.ListNodes(p.name)
	if err != nil || len(nodeList) == 0 {
		return 0
	}
	saved := 0
	for _, n := range nodeList {
		nodeDir := filepath.Join(dir, n.String())
		if os.MkdirAll(nodeDir, 0o755) != nil {
			continue
		}
		logs, lerr := exec.Command(p.runtime.Binary, "logs", n.String()).CombinedOutput()
		inspect, ierr := exec.Command(p.runtime.Binary, "inspect", n.String()).Output()
		if lerr != nil && ierr != nil {
			continue
		}
		_ = os.WriteFile(filepath.Join(nodeDir, "container.log"), logs, 0o644)
		_ = os.WriteFile(filepath.Join(nodeDir, "inspect.json"), inspect, 0o644)
		saved++
	}
	_ = os.WriteFile(filepath.Join(dir, "collection-errors.txt"), []byte(collectErr.Error()+"\n"), 0o644)
	return saved
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	return line
}

func (p *Provider) resolvedReportsDir() string {
	if p.reportsDir != "" {
		return p.reportsDir
	}
	return DefaultReportsDir()
}

// DefaultReportsDir is the repository's reports/ directory, found from the working directory
// (Ginkgo runs suites in their package directory), or ./reports outside the repository.
func DefaultReportsDir() string { return settings.FromRepoRoot(settings.DefaultReportsDir) }

// GetKubeconfig is the path of the kubeconfig written by Create.
func (p *Provider) GetKubeconfig() string { return p.kubeconfigPath }

// GenerateKubeconfig writes the cluster's kubeconfig again (kind's KubeConfig); "--internal"
// asks for the in-network address instead of the host port.
func (p *Provider) GenerateKubeconfig(args ...string) (string, error) {
	if p.kind == nil {
		return "", fmt.Errorf("kind cluster %s: not created or adopted yet", p.name)
	}
	internal := slices.Contains(args, "--internal")
	data, err := p.kind.KubeConfig(p.name, internal)
	if err != nil {
		return "", fmt.Errorf("kind cluster %s: kubeconfig: %w", p.name, err)
	}
	path := p.kubeconfigPath
	if internal {
		path += ".internal"
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// GetKubectlContext is kind's context name for the cluster (kind ContextForCluster).
func (p *Provider) GetKubectlContext() string { return "kind-" + p.name }

// ExportLogs writes kind's node logs (journal, kubelet, containerd, pods) to dest.
func (p *Provider) ExportLogs(ctx context.Context, dest string) error {
	if err := p.connectRuntime(ctx); err != nil {
		return err
	}
	return p.kind.CollectLogs(p.name, dest)
}

// Destroy deletes the cluster, unless WithKeep (--keep-cluster) or the cluster was reused rather
// than created, and removes the temp kubeconfig.
func (p *Provider) Destroy(ctx context.Context) error {
	if p.keeping() {
		fmt.Fprintf(p.out, "keeping kind cluster %s (--keep-cluster); kubeconfig: %s\n", p.name, p.kubeconfigPath)
		return nil
	}
	if !p.created {
		p.removeTemp()
		return nil
	}
	if err := p.connectRuntime(ctx); err != nil {
		return err
	}
	// Always pass our kubeconfig: with "" kind would edit $KUBECONFIG or ~/.kube/config.
	if err := p.kind.Delete(p.name, p.kubeconfigPath); err != nil {
		return fmt.Errorf("kind cluster %s: delete: %w", p.name, err)
	}
	p.created = false
	p.removeTemp()
	return nil
}

// WaitForControlPlane waits until every node (the control plane and the workers) is Ready and
// the CoreDNS Deployment (kube-system/coredns, which kubeadm installs) is available: then pods
// schedule and resolve Services. kind's own wait (CreateWithWaitForReady) only warns when its
// time runs out ("WARNING: Timed out waiting for Ready", kind pkg/cluster/internal/create/actions/
// waitforready), so the provider checks again and fails, in one line, saying what is missing.
func (p *Provider) WaitForControlPlane(ctx context.Context, client klient.Client) error {
	timeout, poll := p.controlPlaneTimeout, p.controlPlanePoll
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	if poll <= 0 {
		poll = 2 * time.Second
	}
	cond := conditions.New(client.Resources())
	nodes := cond.ResourceListMatchN(&corev1.NodeList{}, 1+p.workers, func(o k8s.Object) bool {
		n, ok := o.(*corev1.Node)
		return ok && mesh.NodeReady(n)
	})
	// DeploymentAvailable ends the wait on any error (a NotFound, a transient API error); here
	// those mean "not yet", and the timeout message says what was last seen.
	coreDNS := cond.DeploymentAvailable(CoreDNSName, metav1.NamespaceSystem)
	err := wait.For(func(ctx context.Context) (bool, error) {
		if ok, err := nodes(ctx); err != nil || !ok {
			return false, nil
		}
		ok, err := coreDNS(ctx)
		return ok && err == nil, nil
	}, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(poll), wait.WithImmediate())
	if err == nil {
		return nil
	}
	// Describe the state with a context of its own: ctx may be what ended.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return fmt.Errorf("kind cluster %s: not ready within %s: %s", p.name, timeout, p.controlPlaneState(dctx, client))
}

// CoreDNSName is the CoreDNS Deployment kubeadm creates in kube-system.
const CoreDNSName = "coredns"

// controlPlaneState says which of the nodes and CoreDNS are not ready, for the timeout message.
func (p *Provider) controlPlaneState(ctx context.Context, client klient.Client) string {
	var parts []string
	var nodeList corev1.NodeList
	if err := client.Resources().List(ctx, &nodeList); err != nil {
		parts = append(parts, "listing nodes: "+oneLine(err))
	} else {
		var notReady []string
		for i := range nodeList.Items {
			if !mesh.NodeReady(&nodeList.Items[i]) {
				notReady = append(notReady, nodeList.Items[i].Name)
			}
		}
		want := 1 + p.workers
		if ready := len(nodeList.Items) - len(notReady); ready < want {
			part := fmt.Sprintf("%d of %d nodes Ready", ready, want)
			if len(notReady) > 0 {
				part += " (not Ready: " + strings.Join(notReady, ", ") + ")"
			}
			parts = append(parts, part)
		}
	}
	var dns appsv1.Deployment
	name := metav1.NamespaceSystem + "/" + CoreDNSName
	switch err := client.Resources().Get(ctx, CoreDNSName, metav1.NamespaceSystem, &dns); {
	case apierrors.IsNotFound(err):
		parts = append(parts, "Deployment "+name+" not found")
	case err != nil:
		parts = append(parts, "Deployment "+name+": "+oneLine(err))
	case !mesh.DeploymentAvailable(&dns):
		replicas := int32(1)
		if dns.Spec.Replicas != nil {
			replicas = *dns.Spec.Replicas
		}
		parts = append(parts, fmt.Sprintf("Deployment %s not available (%d of %d replicas)", name, dns.Status.AvailableReplicas, replicas))
	}
	if len(parts) == 0 {
		return "ready only after the deadline"
	}
	return strings.Join(parts, "; ")
}

// KubernetesRestConfig is the REST config of the created or adopted cluster.
func (p *Provider) KubernetesRestConfig() *rest.Config { return p.rest }

// LoadImage copies a local image into the nodes, like `kind load docker-image`: the runtime saves
// it to a tar, which is imported into each node's containerd (kind nodeutils.LoadImageArchive).
// args optionally name the nodes to load into.
func (p *Provider) LoadImage(ctx context.Context, image string, args ...string) error {
	if err := p.connectRuntime(ctx); err != nil {
		return err
	}
	if err := exec.CommandContext(ctx, p.runtime.Binary, "image", "inspect", image).Run(); err != nil {
		return fmt.Errorf("load image: %q is not present locally in %s; pull it first", image, p.runtime.Binary)
	}
	dir, err := os.MkdirTemp("", "mtls-conformance-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "image.tar")
	if out, err := exec.CommandContext(ctx, p.runtime.Binary, "save", "-o", archive, image).CombinedOutput(); err != nil {
		return fmt.Errorf("load image: %s save %s: %v: %s", p.runtime.Binary, image, err, strings.TrimSpace(string(out)))
	}
	return p.LoadImageArchive(ctx, archive, args...)
}

// LoadImageArchive imports an image tar into the nodes (all, or those named in args).
func (p *Provider) LoadImageArchive(ctx context.Context, archivePath string, args ...string) error {
	if err := p.connectRuntime(ctx); err != nil {
		return err
	}
	nodeList, err := p.kind.ListInternalNodes(p.name)
	if err != nil {
		return fmt.Errorf("load image archive: listing nodes of %s: %w", p.name, err)
	}
	if len(nodeList) == 0 {
		return fmt.Errorf("load image archive: kind cluster %s has no nodes", p.name)
	}
	selected, err := selectNodes(nodeList, args)
	if err != nil {
		return err
	}
	for _, n := range selected {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(archivePath)
		if err != nil {
			return fmt.Errorf("load image archive: %w", err)
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("load image archive into node %s: %w", n.String(), err)
		}
	}
	return nil
}

func selectNodes(all []nodes.Node, names []string) ([]nodes.Node, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []nodes.Node
	for _, name := range names {
		i := slices.IndexFunc(all, func(n nodes.Node) bool { return n.String() == name })
		if i < 0 {
			return nil, fmt.Errorf("load image: cluster has no node %q", name)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// LoadImages copies local images into every node, as `kind load docker-image A B ...` does: all
// must be present in the local runtime (a missing one is an error naming each, before anything
// is loaded), then one saved archive is imported into each node's containerd.
func (p *Provider) LoadImages(ctx context.Context, images []string) error {
	if err := p.connectRuntime(ctx); err != nil {
		return err
	}
	var missing []string
	for _, image := range images {
		if err := exec.CommandContext(ctx, p.runtime.Binary, "image", "inspect", image).Run(); err != nil {
			missing = append(missing, image)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("load images: not present in the local %s: %s (pull or build them first)", p.runtime.Binary, strings.Join(missing, ", "))
	}
	dir, err := os.MkdirTemp("", "mtls-conformance-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "images.tar")
	args := append([]string{"save", "-o", archive}, images...)
	if out, err := exec.CommandContext(ctx, p.runtime.Binary, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("load images: %s save: %v: %s", p.runtime.Binary, err, strings.TrimSpace(string(out)))
	}
	fmt.Fprintf(p.out, "loading %d images into kind cluster %s: %s\n", len(images), p.name, strings.Join(images, " "))
	return p.LoadImageArchive(ctx, archive)
}
