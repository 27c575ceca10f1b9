package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// DefaultRevision is the revision label of the unrevisioned istiod (mesh.DefaultRevision).
const DefaultRevision = mesh.DefaultRevision

// ControlPlaneConfig says how to reach the cluster and where the TO release comes from.
type ControlPlaneConfig struct {
	Kubeconfig string
	Context    string
	Rest       *rest.Config
	// Target says where the TO release comes from: ChartsDir, RepoURL, Hub, Tag, CacheDir.
	// Everything else (namespace, chart values such as meshConfig.trustDomain, Helm and
	// readiness timeouts) is the old control plane's; Version and Revision are set by the
	// ControlPlane.
	Target istio.Options
	Out    io.Writer
}

// ControlPlane moves the Istio a run installed from Options.From to Options.To, in place or as
// a canary, the way istio.io documents it for Helm (content/en/docs/setup/upgrade/helm/index.md).
// Every Helm action is package istio's (istio.Installer).
type ControlPlane struct {
	opts Options
	old  *istio.Installer
	// target is the TO release as the default revision: its base chart is what istio-base is
	// upgraded to. canary is the same release as revision opts.Revision().
	target *istio.Installer
	canary *istio.Installer
	kube   kubernetes.Interface
	out    io.Writer

	// WaitReady waits for a control plane after each change (default istio.Installer.WaitReady:
	// istiod Available and its injection webhook answering). Tests on a bare apiserver, where no
	// istiod ever runs, replace it.
	WaitReady func(context.Context, *istio.Installer) error

	toTag string
	// fromImage is the old istiod's image, which must be gone once TO alone serves.
	fromImage       string
	moved           []string // namespaces moved to the canary revision
	upgraded        bool     // in place: istiod runs TO
	canaryInstalled bool
	oldRemoved      bool
}

// NewControlPlane prepares the upgrade of old (the FROM control plane the run installed).
func NewControlPlane(old *istio.Installer, opts Options, cfg ControlPlaneConfig) (*ControlPlane, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if old.Version() != opts.From {
		return nil, fmt.Errorf("the installed control plane runs Istio %s, not --from %s", old.Version(), opts.From)
	}
	if old.Revision() != DefaultRevision {
		return nil, fmt.Errorf("the installed control plane is revision %q; the upgrade starts from the default revision", old.Revision())
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	// TO is configured as the control plane it replaces: a canary installed with the chart's
	// defaults would run another mesh (meshConfig.trustDomain cluster.local, istio-discovery
	// values.yaml) beside the old one. An in-place upgrade keeps the old options by itself
	// (istio.Installer.Upgrade).
	target := old.Options()
	target.Version, target.Revision, target.Out = opts.To, "", cfg.Out
	target.ChartsDir, target.RepoURL, target.Hub, target.Tag = cfg.Target.ChartsDir, cfg.Target.RepoURL, cfg.Target.Hub, cfg.Target.Tag
	// The old Installer's cache is its own, removed when it closes.
	target.CacheDir = cfg.Target.CacheDir
	to, err := istio.New(cfg.Kubeconfig, cfg.Context, target)
	if err != nil {
		return nil, err
	}
	canary, err := to.WithRevision(opts.Revision())
	if err != nil {
		to.Close()
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg.Rest)
	if err != nil {
		to.Close()
		return nil, err
	}
	return &ControlPlane{
		opts: opts, old: old, target: to, canary: canary,
		kube: kube, out: cfg.Out, toTag: cfg.Target.Tag,
		WaitReady: func(ctx context.Context, in *istio.Installer) error { return in.WaitReady(ctx) },
	}, nil
}

// Canary is the TO control plane as a revision.
func (c *ControlPlane) Canary() *istio.Installer { return c.canary }

// UpgradeInPlace is `helm upgrade istio-base` then `helm upgrade istiod` to TO, and waits until
// istiod is ready. Running sidecars keep their version until their pods are restarted.
func (c *ControlPlane) UpgradeInPlace(ctx context.Context) error {
	if c.opts.Mode != InPlace {
		return fmt.Errorf("upgrade mode is %s, not inplace", c.opts.Mode)
	}
	if err := c.rememberFromImage(); err != nil {
		return err
	}
	if err := c.old.Upgrade(ctx, c.opts.To, c.toTag); err != nil {
		return err
	}
	c.upgraded = true
	return nil
}

// InstallCanary upgrades istio-base to TO (the cluster-wide resources both control planes share)
// and installs TO's istiod as revision opts.Revision() beside the old one, then waits until it is
// ready. Nothing moves to it yet.
func (c *ControlPlane) InstallCanary(ctx context.Context) error {
	if c.opts.Mode != Canary {
		return fmt.Errorf("upgrade mode is %s, not canary", c.opts.Mode)
	}
	if err := c.rememberFromImage(); err != nil {
		return err
	}
	// The default revision's base values: istio-base keeps validating with the old istiod until
	// the end.
	if err := c.target.UpgradeBase(ctx); err != nil {
		return err
	}
	if _, err := c.canary.InstallIstiod(ctx); err != nil {
		return err
	}
	c.canaryInstalled = true
	return c.WaitReady(ctx, c.canary)
}

// MoveNamespaces relabels namespaces the suite manages from istio-injection to
// istio.io/rev=<revision>, as istio.io's canary data-plane step does (`kubectl label namespace
// test-ns istio-injection- istio.io/rev=canary`, content/en/docs/setup/upgrade/canary). The
// injection label is removed because it wins over istio.io/rev. Pods keep their sidecar until
// restarted.
func (c *ControlPlane) MoveNamespaces(ctx context.Context, namespaces []string) error {
	if !c.canaryInstalled {
		return errors.New("move namespaces: the canary control plane is not installed")
	}
	if err := MoveNamespaces(ctx, c.kube, namespaces, c.opts.Revision()); err != nil {
		return err
	}
	c.moved = append(c.moved, namespaces...)
	return nil
}

// MoveNamespaces relabels each namespace to revision rev (see ControlPlane.MoveNamespaces). Only
// namespaces labelled as the suite's are touched.
func MoveNamespaces(ctx context.Context, kube kubernetes.Interface, namespaces []string, rev string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{
		mesh.InjectionLabel: nil, // a JSON merge patch null deletes the key
		mesh.RevisionLabel:  rev,
	}}})
	for _, name := range namespaces {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
		if ns.Labels[mesh.ManagedByLabel] != mesh.ManagedByValue {
			return fmt.Errorf("namespace %s is not managed by mtls-conformance; not relabelling it", name)
		}
		if _, err := kube.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: mesh.FieldManager}); err != nil {
			return fmt.Errorf("relabelling namespace %s: %w", name, err)
		}
	}
	return nil
}

// RemoveOld deletes the old istiod release (istio-base and the namespace stay), makes the canary
// the cluster-wide default revision (`helm upgrade istio-base --set defaultRevision=<rev>`), and
// waits until the canary is still ready.
func (c *ControlPlane) RemoveOld(ctx context.Context) error {
	if !c.canaryInstalled {
		return errors.New("remove the old control plane: the canary control plane is not installed")
	}
	if err := c.old.UninstallIstiod(); err != nil {
		return err
	}
	c.oldRemoved = true
	// The canary's base values: defaultRevision=<revision>.
	if err := c.canary.UpgradeBase(ctx); err != nil {
		return err
	}
	return c.WaitReady(ctx, c.canary)
}

// rememberFromImage records the old istiod's image before the first change (an in-place upgrade
// turns the old Installer into TO's).
func (c *ControlPlane) rememberFromImage() error {
	if c.fromImage != "" {
		return nil
	}
	images, err := c.old.Images(false)
	if err != nil {
		return err
	}
	c.fromImage = images[0]
	return nil
}

// Images are the images the TO control plane runs: istiod's, and with proxy its sidecar's (for
// a run that loads its images into kind nodes).
func (c *ControlPlane) Images(proxy bool) ([]string, error) { return c.target.Images(proxy) }

// Serving says which control plane must serve after the last step: TO's istiod (the default
// revision in place, the canary's revision beside the old one, then alone), for CheckServing.
func (c *ControlPlane) Serving() (Serving, error) {
	in := c.canary
	if c.opts.Mode == InPlace {
		if !c.upgraded {
			return Serving{}, errors.New("the control plane has not been upgraded in place")
		}
		in = c.old // upgraded in place: it installs TO now
	} else if !c.canaryInstalled {
		return Serving{}, errors.New("the canary control plane is not installed")
	}
	images, err := in.Images(true)
	if err != nil {
		return Serving{}, err
	}
	want := Serving{
		Namespace: in.Namespace(), Revision: in.Revision(), Deployment: in.IstiodDeployment(),
		Image: images[0], ProxyImage: images[1], Namespaces: slices.Clone(c.moved),
	}
	// The old istiod is gone once TO alone serves, and istio-base's default validator points at
	// TO's: in place it is the same Service; after a canary's RemoveOld, defaultRevision.
	if c.upgraded || c.oldRemoved {
		want.Retired = []string{c.fromImage}
		want.DefaultValidator = true
	}
	if want.Image == c.fromImage {
		return Serving{}, fmt.Errorf("Istio %s runs the same istiod image as %s (%s): nothing would tell the new control plane from the old; give it another tag", c.opts.To, c.opts.From, c.fromImage)
	}
	return want, nil
}

// Revisions are the revisions that inject sidecars now, for deploy's readiness checks: the
// default one, then both during a canary, then the canary alone.
func (c *ControlPlane) Revisions() []string {
	switch {
	case c.oldRemoved:
		return []string{c.opts.Revision()}
	case c.canaryInstalled:
		return []string{DefaultRevision, c.opts.Revision()}
	}
	return []string{DefaultRevision}
}

// Versions says which Istio versions the running control planes are, for the report header:
// "1.31.1", or "1.30.5+1.31.1" while both run.
func (c *ControlPlane) Versions() string {
	switch {
	case c.upgraded, c.oldRemoved:
		return c.opts.To
	case c.canaryInstalled:
		return c.opts.From + "+" + c.opts.To
	}
	return c.opts.From
}

// Close removes what the ControlPlane added that the run's teardown does not know about: on a
// cluster the run did not create, the canary istiod release (the world's teardown removes the
// default istiod, istio-base and the namespace). clusterGoesAway says the run deletes the
// cluster (or keeps it whole on purpose), so nothing in it needs removing.
func (c *ControlPlane) Close(ctx context.Context, clusterGoesAway bool) error {
	var errs []error
	if c.canaryInstalled && !clusterGoesAway {
		if err := c.canary.Uninstall(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.target.Close())
	return errors.Join(errs...)
}
