// Package cluster stands up the Kubernetes cluster the suite runs in: a kind cluster created
// through kind's Go library (sigs.k8s.io/kind/pkg/cluster), its images loaded and, when it fails
// to come up, its logs exported; or an existing cluster reached through a kubeconfig.
package cluster

import (
	"context"
	"errors"
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
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// Provider is a kind cluster driven through kind's Go library. Its options are the run's
// settings, resolved once by package settings (an explicit flag over the environment): the
// provider never reads a setting from the environment itself, which would let a variable left
// in a shell override a flag.
type Provider struct {
	name      string
	nodeImage string
	// imageWarning is CheckNodeImage's, printed when the cluster is created ("" = kind lists it).
	imageWarning string
	reuse        bool
	keep         bool
	reportsDir   string
	// runtimeName is KIND_EXPERIMENTAL_PROVIDER, as resolved by settings ("" = detect).
	runtimeName string
	// patch adds containerd/kubeadm patches to the rendered config (KIND_CONFIG_PATCH).
	patch *ConfigPatch
	// workers are worker nodes besides the control plane; the suite's runs use none (tests of
	// the readiness wait use one).
	workers      int
	waitForReady time.Duration
	// controlPlaneTimeout bounds waitForControlPlane, which polls every controlPlanePoll.
	controlPlaneTimeout time.Duration
	controlPlanePoll    time.Duration
	out                 io.Writer

	runtime DetectedRuntime
	kind    *kindcluster.Provider
	rest    *rest.Config
	// kubeconfigPath is the private temp file the cluster's kubeconfig is written to, never the
	// user's own.
	kubeconfigPath string
	// created is true when this provider created the cluster (and so may delete it).
	created bool
	tempDir string
}

// Default waits: kind's own for the control plane, then the provider's for nodes and CoreDNS.
const (
	defaultWaitForReady        = 3 * time.Minute
	defaultControlPlaneTimeout = 3 * time.Minute
	defaultControlPlanePoll    = 2 * time.Second
)

// NewKind returns the kind cluster of a run's settings: CLUSTER_NAME, the node image
// (settings.KindNodeImage), REUSE_CLUSTER, KEEP_CLUSTER, REPORTS_DIR (where kind's logs go when
// creation fails), KIND_CONFIG_PATCH and KIND_EXPERIMENTAL_PROVIDER, as settings.Resolve resolved
// them (REPORTS_DIR anchored at the repository). Progress goes to out. A bad node image or config
// patch is an error here, before anything is created; the image is checked here only.
func NewKind(s settings.Settings, out io.Writer) (*Provider, error) {
	image, err := s.KindNodeImage()
	if err != nil {
		return nil, err
	}
	// Any image reference is accepted; one kind does not list is warned of at creation.
	imageWarning, err := CheckNodeImage(image)
	if err != nil {
		return nil, fmt.Errorf("kind cluster %s: %w", s.ClusterName, err)
	}
	var patch *ConfigPatch
	if s.KindPatch != "" {
		if patch, err = LoadConfigPatch(s.KindPatch); err != nil {
			return nil, err
		}
	}
	if out == nil {
		out = io.Discard
	}
	return &Provider{
		name: s.ClusterName, nodeImage: image, imageWarning: imageWarning, reuse: s.ReuseCluster, keep: s.KeepCluster,
		reportsDir: s.ReportsDir, runtimeName: s.KindProvider, patch: patch,
		waitForReady: defaultWaitForReady, controlPlaneTimeout: defaultControlPlaneTimeout, controlPlanePoll: defaultControlPlanePoll,
		out: out,
	}, nil
}

// Name is the kind cluster name.
func (p *Provider) Name() string { return p.name }

// NodeImage is the node image the cluster is (or will be) created with.
func (p *Provider) NodeImage() string { return p.nodeImage }

// Created reports whether this provider created the cluster, as opposed to reusing one. Only a
// created cluster is deleted by Destroy, and mesh-wide scenarios run freely only there.
func (p *Provider) Created() bool { return p.created }

// Create creates the cluster (or, with REUSE_CLUSTER, adopts the existing one of that name),
// writes its kubeconfig to a private temp file, and waits until its nodes and CoreDNS are ready.
// It returns the kubeconfig's path.
func (p *Provider) Create(ctx context.Context) (string, error) {
	raw, err := RenderConfigYAML(ConfigSpec{Name: p.name, NodeImage: p.nodeImage, Workers: p.workers, Patch: p.patch})
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
		if !p.reuse {
			return "", fmt.Errorf("kind cluster %q already exists; pass --reuse-cluster (REUSE_CLUSTER=1) to run on it, or delete it with: kind delete cluster --name %s", p.name, p.name)
		}
		return p.adopt(ctx)
	}
	kubeconfig, err := p.tempKubeconfig()
	if err != nil {
		return "", err
	}
	if p.imageWarning != "" {
		fmt.Fprintf(p.out, "warning: %s\n", p.imageWarning)
	}
	fmt.Fprintf(p.out, "creating kind cluster %s (%s, node image %s)\n", p.name, p.runtime.Binary, p.nodeImage)
	err = p.kind.Create(p.name,
		kindcluster.CreateWithRawConfig(raw),
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
		if !p.keep {
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
		if !p.keep {
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
	return p.waitForControlPlane(ctx, client)
}

// adopt writes the kubeconfig of an existing kind cluster and uses it without owning it.
func (p *Provider) adopt(ctx context.Context) (string, error) {
	kubeconfig, err := p.tempKubeconfig()
	if err != nil {
		return "", err
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
	det, err := DetectRuntime(ctx, p.runtimeName)
	if err != nil {
		return err
	}
	p.runtime = det
	p.kind = kindcluster.NewProvider(kindcluster.ProviderWithLogger(newKindLogger(p.out)), det.ProviderOption())
	return nil
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
		&clientcmd.ConfigOverrides{CurrentContext: p.kubeContext()},
	).ClientConfig()
	if err != nil {
		return fmt.Errorf("kind cluster %s: kubeconfig %s: %w", p.name, p.kubeconfigPath, err)
	}
	p.rest = cfg
	return nil
}

// exportFailureLogs collects kind's logs under the reports directory and says where they are.
func (p *Provider) exportFailureLogs() string {
	dir := filepath.Join(p.reportsDir, "kind-logs-"+p.name)
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

// kubeContext is kind's context name for the cluster (kind ContextForCluster).
func (p *Provider) kubeContext() string { return "kind-" + p.name }

// Destroy deletes the cluster, unless KEEP_CLUSTER or the cluster was reused rather than
// created, and removes the temp kubeconfig.
func (p *Provider) Destroy(ctx context.Context) error {
	if p.keep {
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

// waitForControlPlane waits until every node (the control plane and the workers) is Ready and
// the CoreDNS Deployment (kube-system/coredns, which kubeadm installs) is available: then pods
// schedule and resolve Services. kind's own wait (CreateWithWaitForReady) only warns when its
// time runs out ("WARNING: Timed out waiting for Ready", kind pkg/cluster/internal/create/actions/
// waitforready), so the provider checks again and fails, in one line, saying what is missing.
func (p *Provider) waitForControlPlane(ctx context.Context, client klient.Client) error {
	timeout, poll := p.controlPlaneTimeout, p.controlPlanePoll
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

// loadArchive imports an image tar into every node's containerd (kind nodeutils.LoadImageArchive).
func (p *Provider) loadArchive(ctx context.Context, archivePath string) error {
	nodeList, err := p.kind.ListInternalNodes(p.name)
	if err != nil {
		return fmt.Errorf("load image archive: listing nodes of %s: %w", p.name, err)
	}
	if len(nodeList) == 0 {
		return fmt.Errorf("load image archive: kind cluster %s has no nodes", p.name)
	}
	for _, n := range nodeList {
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
	return p.loadArchive(ctx, archive)
}
