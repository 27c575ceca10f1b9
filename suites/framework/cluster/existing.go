package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// ConnectOptions selects an existing cluster the way kubectl does.
type ConnectOptions struct {
	// Kubeconfig is --kubeconfig; empty means $KUBECONFIG, then ~/.kube/config.
	Kubeconfig string
	// Context is --context; empty means the kubeconfig's current context.
	Context string
	// Timeout bounds the reachability check (default 5 s).
	Timeout time.Duration
}

// Connection is a reachable existing cluster.
type Connection struct {
	Config *rest.Config
	// Context is the kubeconfig context in use.
	Context string
	// Server is the API server URL.
	Server string
	// ServerVersion is the API server's gitVersion ("v1.37.2").
	ServerVersion string
}

// Connect loads the kubeconfig (explicit path over $KUBECONFIG over ~/.kube/config, as
// client-go's default loading rules) and checks that the API server answers /version in time.
// Every failure is one line naming the kubeconfig, context and server involved; the kubeconfig's
// contents (tokens, keys) never appear in it. BadSelection tells bad input from a cluster that
// does not answer.
func Connect(ctx context.Context, opts ConnectOptions) (*Connection, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = opts.Kubeconfig
	source := opts.Kubeconfig
	if source == "" {
		source = strings.Join(rules.GetLoadingPrecedence(), string(filepath.ListSeparator))
	}
	// client-go skips kubeconfig files that do not exist and goes on with an empty config, which
	// surfaces later as "no current context" or a dump about in-cluster configuration; kubectl's
	// rules are kept, but a selection where no file exists is named as such.
	if !anyFileExists(rules.GetLoadingPrecedence()) {
		return nil, badSelection(fmt.Errorf("existing cluster: %w: %s", ErrKubeconfigNotFound, source))
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Context})
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, badSelection(fmt.Errorf("existing cluster: reading kubeconfig %s: %v", source, oneLine(err)))
	}
	contextName := opts.Context
	if contextName == "" {
		contextName = raw.CurrentContext
	}
	if contextName == "" {
		return nil, badSelection(fmt.Errorf("existing cluster: kubeconfig %s has no current context; pass --context", source))
	}
	if _, ok := raw.Contexts[contextName]; !ok {
		names := make([]string, 0, len(raw.Contexts))
		for n := range raw.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, badSelection(fmt.Errorf("existing cluster: context %q is not in kubeconfig %s (contexts: %s)", contextName, source, strings.Join(names, ", ")))
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, badSelection(fmt.Errorf("existing cluster: context %q in %s: %v", contextName, source, oneLine(err)))
	}
	conn := &Connection{Config: cfg, Context: contextName, Server: cfg.Host}
	probe := rest.CopyConfig(cfg)
	probe.Timeout = opts.Timeout
	cs, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return nil, fmt.Errorf("existing cluster: context %q: %v", contextName, oneLine(err))
	}
	pctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(pctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("existing cluster: API server %s (context %q, kubeconfig %s) is unreachable: %s", redactURL(cfg.Host), contextName, source, oneLine(err))
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("existing cluster: API server %s answered /version with something that is not a Kubernetes version: %v", redactURL(cfg.Host), err)
	}
	conn.ServerVersion = v.GitVersion
	return conn, nil
}

// ErrKubeconfigNotFound: no kubeconfig file exists where --kubeconfig, KUBECONFIG or the default
// ~/.kube/config points.
var ErrKubeconfigNotFound = errors.New("kubeconfig not found")

// selectionError is an error in what the user selected (the kubeconfig, the context), as
// opposed to a cluster that does not answer: the CLI reports it as bad input.
type selectionError struct{ error }

func (e selectionError) Unwrap() error { return e.error }

func badSelection(err error) error { return selectionError{err} }

// BadSelection reports whether Connect failed on its input (no kubeconfig file, an unreadable
// one, a missing or unknown context) rather than on the cluster.
func BadSelection(err error) bool {
	var s selectionError
	return errors.As(err, &s)
}

// anyFileExists reports whether one of paths exists; an error other than "does not exist"
// (permissions) counts as existing, so that reading it reports that error.
func anyFileExists(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// redactURL drops any user:password a server URL might carry.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// IstioCRDs are the CRDs the suite's policies need (security.istio.io PeerAuthentication,
// networking.istio.io DestinationRule).
var IstioCRDs = []string{"peerauthentications.security.istio.io", "destinationrules.networking.istio.io"}

// Istiod is one istiod control plane found in the cluster.
type Istiod struct {
	Namespace string
	Name      string
	// Revision is the istio.io/rev label ("default" for an unrevisioned install).
	Revision string
	// Version is the Istio version, from the discovery container's image tag (what actually
	// runs) or else the chart's app.kubernetes.io/version label; "" when neither says.
	Version string
	// Image is the discovery container's image.
	Image string
	// Available is the Deployment's Available condition.
	Available bool
}

// IstioInstallation is what DetectIstio found.
type IstioInstallation struct {
	// MissingCRDs lists IstioCRDs that are not installed.
	MissingCRDs []string
	Istiods     []Istiod
}

// Installed reports whether the CRDs are present and at least one istiod is Available.
func (in *IstioInstallation) Installed() bool {
	if len(in.MissingCRDs) > 0 {
		return false
	}
	for _, d := range in.Istiods {
		if d.Available {
			return true
		}
	}
	return false
}

// Summary is one line for the report: what Istio the cluster runs.
func (in *IstioInstallation) Summary() string {
	if len(in.MissingCRDs) > 0 && len(in.Istiods) == 0 {
		return "Istio not installed (no Istio CRDs, no istiod)"
	}
	var parts []string
	if len(in.MissingCRDs) > 0 {
		parts = append(parts, "missing CRDs "+strings.Join(in.MissingCRDs, ", "))
	}
	if len(in.Istiods) == 0 {
		parts = append(parts, "Istio CRDs installed, no istiod")
	}
	for _, d := range in.Istiods {
		state := "not available"
		if d.Available {
			state = "available"
		}
		version := d.Version
		if version == "" {
			version = "unknown version (image " + d.Image + ")"
		}
		parts = append(parts, fmt.Sprintf("istiod %s/%s revision %s Istio %s, %s", d.Namespace, d.Name, d.Revision, version, state))
	}
	return strings.Join(parts, "; ")
}

// DetectIstio reports which Istio CRDs and istiod control planes the cluster has. istiod is
// found by the label app=istiod that Istio's istiod chart and istioctl both put on the
// Deployment (istio/istio manifests/charts/istio-control/istio-discovery/templates/deployment.yaml).
func DetectIstio(ctx context.Context, cfg *rest.Config) (*IstioInstallation, error) {
	ext, extErr := apiextensionsclient.NewForConfig(cfg)
	cs, kubeErr := kubernetes.NewForConfig(cfg)
	if err := errors.Join(extErr, kubeErr); err != nil {
		return nil, fmt.Errorf("detect Istio: clients: %w", err)
	}
	in := &IstioInstallation{}
	for _, name := range IstioCRDs {
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			in.MissingCRDs = append(in.MissingCRDs, name)
		case err != nil:
			return nil, fmt.Errorf("detect Istio: CRD %s: %w", name, err)
		}
	}
	deps, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return nil, fmt.Errorf("detect Istio: listing istiod Deployments: %w", err)
	}
	for i := range deps.Items {
		in.Istiods = append(in.Istiods, describeIstiod(&deps.Items[i]))
	}
	sort.Slice(in.Istiods, func(i, j int) bool {
		a, b := in.Istiods[i], in.Istiods[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	return in, nil
}

func describeIstiod(d *appsv1.Deployment) Istiod {
	out := Istiod{Namespace: d.Namespace, Name: d.Name, Revision: d.Labels[mesh.RevisionLabel]}
	if out.Revision == "" {
		out.Revision = "default"
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "discovery" {
			out.Image = c.Image
		}
	}
	out.Version = VersionFromImage(out.Image)
	if out.Version == "" {
		if v := d.Labels["app.kubernetes.io/version"]; isIstioVersion(v) {
			out.Version = v
		}
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == "True" {
			out.Available = true
		}
	}
	return out
}

// VersionFromImage reads the Istio version from an istiod image: the chart renders
// "{hub}/pilot:{tag}[-{variant}]" with variant distroless or debug
// (istio-discovery templates/deployment.yaml). A digest-only or non-version tag yields "".
func VersionFromImage(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon < slash || colon < 0 {
		return ""
	}
	tag := image[colon+1:]
	for _, variant := range []string{"-distroless", "-debug"} {
		tag = strings.TrimSuffix(tag, variant)
	}
	if !isIstioVersion(tag) {
		return ""
	}
	return tag
}

func isIstioVersion(s string) bool {
	_, err := versions.ParseIstioVersion(s)
	return err == nil
}

// ErrMeshWideNotAllowed explains a skipped mesh-wide scenario.
var ErrMeshWideNotAllowed = errors.New("mesh-wide policy changes istio-system for every workload in a cluster the suite did not create; rerun with --allow-mesh-wide to include it")

// MeshWideAllowed decides whether a scenario that changes mesh-wide policy (objects in the root
// namespace istio-system) may run: always on a cluster the suite created, and on any other
// cluster only with --allow-mesh-wide. The error is the skip reason.
func MeshWideAllowed(createdBySuite, allowMeshWide bool) error {
	if createdBySuite || allowMeshWide {
		return nil
	}
	return ErrMeshWideNotAllowed
}
