package upgrade

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/kube"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// helmClient runs the two Helm actions a canary upgrade needs that package istio's Installer
// does not offer on their own: upgrading only the istio-base release, and deleting only the old
// istiod release while istio-base and the namespace stay (istio.io
// content/en/docs/setup/upgrade/helm/index.md: `helm upgrade istio-base istio/base`, `helm
// delete istiod -n istio-system`, then `helm upgrade istio-base istio/base --set
// defaultRevision=canary`). Releases are stored as Secrets, Helm's default driver, as the
// Installer stores them.
type helmClient struct {
	settings  *cli.EnvSettings
	namespace string
	timeout   time.Duration
	out       io.Writer
}

// DefaultHelmTimeout bounds each Helm action, as package istio's default does.
const DefaultHelmTimeout = 5 * time.Minute

func newHelmClient(kubeconfig, kubeContext, namespace string, timeout time.Duration, out io.Writer) *helmClient {
	s := cli.New()
	// Only the kubeconfig given: Helm's HELM_KUBE* environment overrides are cleared, as the
	// Installer does.
	s.KubeConfig, s.KubeContext = kubeconfig, kubeContext
	s.KubeToken, s.KubeAPIServer, s.KubeCaFile, s.KubeTLSServerName, s.KubeAsUser = "", "", "", "", ""
	s.KubeAsGroups = nil
	s.KubeInsecureSkipTLSVerify = false
	s.SetNamespace(namespace)
	if timeout <= 0 {
		timeout = DefaultHelmTimeout
	}
	return &helmClient{settings: s, namespace: namespace, timeout: timeout, out: out}
}

func (h *helmClient) config() (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(h.out, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := cfg.Init(h.settings.RESTClientGetter(), h.namespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return cfg, nil
}

// upgrade runs `helm upgrade name <chart>` with exactly these values, labelled as the suite's.
func (h *helmClient) upgrade(ctx context.Context, name string, ch *chart.Chart, values map[string]any) error {
	cfg, err := h.config()
	if err != nil {
		return err
	}
	act := action.NewUpgrade(cfg)
	act.Namespace = h.namespace
	// Readiness is the caller's (istio.Installer.WaitReady); Istio's charts have no hooks.
	act.WaitStrategy = kube.HookOnlyStrategy
	act.Timeout = h.timeout
	act.Labels = map[string]string{mesh.ManagedByLabel: mesh.ManagedByValue}
	fmt.Fprintf(h.out, "helm upgrade %s to chart %s %s\n", name, ch.Metadata.Name, ch.Metadata.Version)
	if _, err := act.RunWithContext(ctx, name, ch, values); err != nil {
		return fmt.Errorf("helm upgrade %s: %w", name, err)
	}
	return nil
}

// uninstall runs `helm delete name` and waits until the release's objects are gone.
func (h *helmClient) uninstall(name string) error {
	cfg, err := h.config()
	if err != nil {
		return err
	}
	act := action.NewUninstall(cfg)
	act.WaitStrategy = kube.StatusWatcherStrategy
	act.Timeout = h.timeout
	fmt.Fprintf(h.out, "helm delete %s\n", name)
	if _, err := act.Run(name); err != nil {
		return fmt.Errorf("helm delete %s: %w", name, err)
	}
	return nil
}
