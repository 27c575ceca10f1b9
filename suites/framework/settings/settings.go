// Package settings holds what a user can set for a conformance run. Every setting is both a
// flag and an environment variable of the same name (flag --istio-version, env ISTIO_VERSION),
// so `make conformance ISTIO_VERSION=1.30.5` and `go tool ginkgo ... -- --istio-version=1.30.5`
// mean the same. A flag given explicitly wins over the environment.
package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// Cluster modes.
const (
	ModeKind     = "kind"
	ModeExisting = "existing"
)

// Settings is one run's configuration.
type Settings struct {
	ClusterMode   string        // kind (create or reuse a kind cluster) or existing (a cluster you have)
	ClusterName   string        // kind cluster name
	IstioVersion  string        // Istio to install; "" = the default pin of versions/versions.yaml
	InstallIstio  bool          // existing mode: install Istio if absent (never by default)
	IstioCharts   string        // directory with the base and istiod charts, for air-gapped runs
	IstioHub      string        // image hub override (with IstioCharts)
	IstioTag      string        // image tag override
	NodeImage     string        // kind node image; "" = the pin for the Istio version
	Kubeconfig    string        // existing mode: kubeconfig path ("" = KUBECONFIG or ~/.kube/config)
	Context       string        // existing mode: kubeconfig context
	KeepCluster   bool          // do not delete the kind cluster at the end
	ReuseCluster  bool          // run on an existing kind cluster of the same name
	AllowMeshWide bool          // run mesh-wide scenarios on a cluster the suite did not create
	ReportsDir    string        // where runs write junit.xml, results.json, summary.md
	Timeout       time.Duration // convergence timeout per probe
	Consecutive   int           // consecutive identical observations that count as converged
	Concurrency   int           // probe execs in flight at once (one per client and round)
	TrustDomain   string        // mesh trust domain in SPIFFE IDs
	CertTTL       time.Duration // the longest validity a workload certificate may have
	HttpbinImage  string        // image run instead of the pinned go-httpbin (a mirror); "" = the pin
	CurlImage     string        // image run instead of the pinned curl (a mirror); "" = the pin
	TCPEchoImage  string        // image run instead of the pinned TCP echo (a mirror); "" = the pin
	CaptureImage  string        // image of the wire specs' capture pod (tcpdump, sh); "" = the pin
	AllowCapture  bool          // run the privileged host-network capture pod on a cluster the suite did not create
	LoadImages    bool          // kind: load every image the run uses from the local runtime into the nodes
	KindPatch     string        // kind: a kind config whose patches are added to the suite's (KindPatch)
	Inject        string        // namespaces given sidecars: "" (the documented foo,bar), "none", or a list
	IstioRequests Requests      // CPU and memory requests of istiod and of each sidecar
	ScenariosDir  string        // a folder of scenario files run after the catalog (test-only ones); "" = none
	Dataplane     string        // sidecar (default) or ambient (dataplane.go)
	KindProvider  string        // kind: the container runtime kind uses (KIND_EXPERIMENTAL_PROVIDER); "" = detect
}

// The defaults other packages need on their own (the CLI's `cluster delete`, the probe engine's
// zero options); Defaults uses them, and every other default is written there.
const (
	DefaultClusterName = "mtls-conformance"
	DefaultReportsDir  = "reports"
	// DefaultTimeout is how long a probe may take to converge: istio.io doc tests retry for 2
	// minutes (tests/util/helpers.sh).
	DefaultTimeout = 120 * time.Second
	// DefaultConsecutive identical observations in a row count as converged.
	DefaultConsecutive = 3
)

// KindProviderEnv is the variable the kind CLI reads to force a container runtime
// (sigs.k8s.io/kind pkg/internal/runtime/runtime.go GetDefault); the suite reads it as a setting.
const KindProviderEnv = "KIND_EXPERIMENTAL_PROVIDER"

// Defaults are the values used when neither a flag nor the environment says otherwise.
func Defaults() Settings {
	return Settings{
		ClusterMode: ModeKind,
		ClusterName: DefaultClusterName,
		ReportsDir:  DefaultReportsDir,
		Timeout:     DefaultTimeout,
		Consecutive: DefaultConsecutive,
		Concurrency: matrixSize(),
		TrustDomain: fixtures.DefaultTrustDomain,
		// istio-agent's SECRET_TTL default (istio/istio pkg/istio-agent, "24h"); seed 004:
		// "default validity is 24 hours".
		CertTTL:       24 * time.Hour,
		IstioRequests: DefaultRequests(),
		Dataplane:     DataplaneSidecar,
	}
}

// matrixSize is the number of probes in a scenario step (every client × Service × Service
// port of the fixtures): probing them all at once makes a step as long as its slowest probe.
func matrixSize() int {
	topo, err := fixtures.Load()
	if err != nil {
		// The fixtures are embedded in the binary: this is a broken build, not a bad input.
		panic(fmt.Sprintf("settings: the default concurrency is the fixtures' matrix size: %v", err))
	}
	return len(scenarios.Matrix(topo))
}

// Binding ties a value to a flag and an environment variable of the same meaning. Suites with
// settings of their own (the upgrade suite) bind them the same way.
type Binding struct {
	Flag, Env, Usage string
	Value            flag.Value
}

// Bind registers each binding on fs; the value's current content is the default.
func Bind(fs *flag.FlagSet, bindings []Binding) {
	for _, b := range bindings {
		usage := b.Usage
		if b.Env != "" {
			usage += " (env " + b.Env + ")"
		}
		fs.Var(b.Value, b.Flag, usage)
	}
}

// ApplyEnv sets every binding whose flag was not given on fs from its environment variable.
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string, bindings []Binding) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, b := range bindings {
		if given[b.Flag] || b.Env == "" {
			continue
		}
		if v := getenv(b.Env); v != "" {
			if err := b.Value.Set(v); err != nil {
				return fmt.Errorf("%s=%q: %v", b.Env, v, err)
			}
		}
	}
	return nil
}

// String, Bool, Int and Duration make flag values of variables.
func String(p *string) flag.Value          { return (*stringValue)(p) }
func Bool(p *bool) flag.Value              { return (*boolValue)(p) }
func Int(p *int) flag.Value                { return (*intValue)(p) }
func Duration(p *time.Duration) flag.Value { return (*durationValue)(p) }

func (s *Settings) table() []Binding {
	return []Binding{
		{"cluster", "CLUSTER", "cluster mode: kind or existing", (*stringValue)(&s.ClusterMode)},
		{"cluster-name", "CLUSTER_NAME", "kind cluster name", (*stringValue)(&s.ClusterName)},
		{"istio-version", "ISTIO_VERSION", "Istio version to install (default: the pin in versions/versions.yaml)", (*stringValue)(&s.IstioVersion)},
		{"install-istio", "INSTALL_ISTIO", "existing cluster: install Istio when it is absent", (*boolValue)(&s.InstallIstio)},
		{"istio-charts", "ISTIO_CHARTS", "directory holding the base and istiod charts (air-gapped)", (*stringValue)(&s.IstioCharts)},
		{"istio-hub", "ISTIO_HUB", "Istio image hub override", (*stringValue)(&s.IstioHub)},
		{"istio-tag", "ISTIO_TAG", "Istio image tag override", (*stringValue)(&s.IstioTag)},
		{"node-image", "NODE_IMAGE", "kind node image (default: pinned for the Istio version)", (*stringValue)(&s.NodeImage)},
		{"kubeconfig", "", "existing cluster: kubeconfig path (default: as kubectl, the KUBECONFIG list, then ~/.kube/config)", (*stringValue)(&s.Kubeconfig)},
		{"context", "KUBE_CONTEXT", "existing cluster: kubeconfig context", (*stringValue)(&s.Context)},
		{"keep-cluster", "KEEP_CLUSTER", "keep the kind cluster after the run", (*boolValue)(&s.KeepCluster)},
		{"reuse-cluster", "REUSE_CLUSTER", "run on an existing kind cluster of the same name (never deleted)", (*boolValue)(&s.ReuseCluster)},
		{"allow-mesh-wide", "ALLOW_MESH_WIDE", "run mesh-wide scenarios on a cluster the suite did not create", (*boolValue)(&s.AllowMeshWide)},
		{"reports-dir", "REPORTS_DIR", "directory for run reports", (*stringValue)(&s.ReportsDir)},
		{"converge-timeout", "CONVERGE_TIMEOUT", "how long a probe may take to converge", (*durationValue)(&s.Timeout)},
		{"consecutive", "CONSECUTIVE", "identical observations in a row that count as converged", (*intValue)(&s.Consecutive)},
		{"concurrency", "CONCURRENCY", "probe execs in flight at once: each runs one client's requests of a round (default: a step's whole matrix, so every client at once)", (*intValue)(&s.Concurrency)},
		{"trust-domain", "TRUST_DOMAIN", "mesh trust domain: dot-separated DNS labels, as Istio checks meshConfig.trustDomain", (*stringValue)(&s.TrustDomain)},
		{"cert-ttl", "CERT_TTL", "longest validity a workload certificate may have (a positive duration)", (*durationValue)(&s.CertTTL)},
		{"httpbin-image", "HTTPBIN_IMAGE", "image to run instead of the pinned go-httpbin (a mirror)", (*stringValue)(&s.HttpbinImage)},
		{"curl-image", "CURL_IMAGE", "image to run instead of the pinned curl (a mirror)", (*stringValue)(&s.CurlImage)},
		{"tcp-echo-image", "TCP_ECHO_IMAGE", "image to run instead of the pinned TCP echo server (a mirror)", (*stringValue)(&s.TCPEchoImage)},
		{"capture-image", "CAPTURE_IMAGE", "image of the wire specs' capture pod: tcpdump and a POSIX shell (default: the pin in versions/versions.yaml)", (*stringValue)(&s.CaptureImage)},
		{"allow-capture", "ALLOW_CAPTURE", "run the wire specs' capture pod (host network, NET_RAW/NET_ADMIN, tcpdump) on a cluster the suite did not create", (*boolValue)(&s.AllowCapture)},
		{"load-images", "LOAD_IMAGES", "kind: load every image the run uses from the local Docker/Podman into the nodes (nothing pulled)", (*boolValue)(&s.LoadImages)},
		{"kind-config-patch", "KIND_CONFIG_PATCH", "kind: a kind config file whose containerdConfigPatches, kubeadmConfigPatches and networking.disableDefaultCNI are added to the suite's", (*stringValue)(&s.KindPatch)},
		{"inject", "INJECT", "namespaces whose workloads get sidecars: a comma list, or none (default: the documented foo,bar)", (*stringValue)(&s.Inject)},
		{"istio-requests", "ISTIO_REQUESTS", "CPU/memory requests of istiod and of each sidecar (default: Istio's demo profile); raise either, e.g. istiod=500m/2Gi,proxy=100m/128Mi (the chart's own)", &s.IstioRequests},
		{"dataplane", "DATAPLANE", "data plane: sidecar, or ambient (istiod with the ambient profile, then istio-cni and ztunnel installed and awaited ready; an Istio already installed must run a ready ztunnel; foo and bar labelled istio.io/dataplane-mode=ambient instead of injected; expectations from each scenario's ambient: block; INJECT and LOAD_IMAGES rejected)", (*stringValue)(&s.Dataplane)},
		{"scenarios-dir", "SCENARIOS_DIR", "a folder of scenario files run after the catalog, e.g. the test-only scenarios/testdata/failing (select them with LABEL_FILTER)", (*stringValue)(&s.ScenariosDir)},
		{"kind-provider", KindProviderEnv, "kind: the container runtime, as kind's own variable: docker, podman, nerdctl, finch or nerdctl.lima (default: the first of docker, nerdctl, finch, podman that answers; another value is ignored, as kind does)", (*stringValue)(&s.KindProvider)},
	}
}

// Bindings are the named settings' bindings (by flag), for a command that takes only those
// (`conformance cluster delete`): the same flag, variable and value as a run's.
func (s *Settings) Bindings(flags ...string) []Binding {
	var out []Binding
	for _, b := range s.table() {
		if slices.Contains(flags, b.Flag) {
			out = append(out, b)
		}
	}
	return out
}

// Bind registers every setting on fs with the defaults, to be resolved by Resolve after parsing.
func (s *Settings) Bind(fs *flag.FlagSet) { Bind(fs, s.table()) }

// Resolve applies the environment to every setting whose flag was not given, then validates.
func (s *Settings) Resolve(fs *flag.FlagSet, getenv func(string) string) error {
	if err := ApplyEnv(fs, getenv, s.table()); err != nil {
		return err
	}
	s.ReportsDir = FromRepoRoot(s.ReportsDir)
	s.ScenariosDir = FromRepoRoot(s.ScenariosDir)
	return s.Validate()
}

// Validate rejects settings that cannot describe a run, before anything is created.
func (s *Settings) Validate() error {
	var errs []string
	if s.ClusterMode != ModeKind && s.ClusterMode != ModeExisting {
		errs = append(errs, fmt.Sprintf("cluster mode %q: want kind or existing", s.ClusterMode))
	}
	if s.Timeout <= 0 {
		errs = append(errs, "converge-timeout must be positive")
	}
	if s.Consecutive < 1 {
		errs = append(errs, "consecutive must be at least 1")
	}
	if s.Concurrency < 1 {
		errs = append(errs, "concurrency must be at least 1")
	}
	if err := ValidateTrustDomain(s.TrustDomain); err != nil {
		errs = append(errs, "trust-domain: "+err.Error())
	}
	if s.CertTTL <= 0 {
		errs = append(errs, "cert-ttl must be a positive duration")
	}
	if s.ClusterMode == ModeKind && s.Context != "" {
		// KUBECONFIG alone is common in a shell and is ignored in kind mode; a context is not.
		errs = append(errs, "--context applies to CLUSTER=existing")
	}
	if (s.IstioHub != "" || s.IstioTag != "") && s.IstioCharts == "" && s.IstioVersion == "" {
		errs = append(errs, "istio-hub/istio-tag override the images of a chart: give --istio-version or --istio-charts")
	}
	if _, err := s.FixtureVariant(); err != nil {
		errs = append(errs, err.Error())
	}
	if s.CaptureImage != "" {
		if err := versions.CheckImageRef(s.CaptureImage); err != nil {
			errs = append(errs, "capture-image: "+err.Error())
		}
	}
	if s.ScenariosDir != "" {
		if _, err := scenarios.CatalogWithDir(s.ScenariosDir); err != nil {
			errs = append(errs, "scenarios-dir: "+err.Error())
		}
	}
	errs = append(errs, s.validateDataplane()...)
	if s.ClusterMode != ModeKind && (s.LoadImages || s.KindPatch != "") {
		errs = append(errs, "load-images and kind-config-patch apply to CLUSTER=kind")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// FixtureVariant is how this run's fixtures differ from the manifests: the image overrides
// (HTTPBIN_IMAGE, CURL_IMAGE, keyed by the images versions.yaml pins), the injected
// namespaces (INJECT), or with DATAPLANE=ambient foo and bar enrolled instead (dataplane.go).
func (s *Settings) FixtureVariant() (fixtures.Variant, error) {
	var v fixtures.Variant
	if err := s.ambientFixtures(&v); err != nil {
		return v, err
	}
	pins, err := versions.Load()
	if err != nil {
		return v, err
	}
	for pinned, override := range map[string]string{pins.Images.Httpbin: s.HttpbinImage, pins.Images.Curl: s.CurlImage, pins.Images.TCPEcho: s.TCPEchoImage} {
		if override == "" {
			continue
		}
		if err := versions.CheckImageRef(override); err != nil {
			return v, err
		}
		if v.Images == nil {
			v.Images = map[string]string{}
		}
		v.Images[pinned] = override
	}
	switch s.Inject {
	case "":
	case "none":
		v.Injected = []string{}
	default:
		for _, ns := range strings.Split(s.Inject, ",") {
			v.Injected = append(v.Injected, strings.TrimSpace(ns))
		}
	}
	if _, err := fixtures.ObjectsFor(v); err != nil {
		return v, fmt.Errorf("inject/images: %w", err)
	}
	return v, nil
}

// KindNodeImage is the kind node image of a run: --node-image, else the one versions.yaml pins
// for the Istio version (the requested one, else the default). It is the one place that chooses
// it; an upgrade, which needs an image both its releases support, sets NodeImage from
// versions.UpgradeNodeImage before.
func (s *Settings) KindNodeImage() (string, error) {
	return orPinned(s.NodeImage, func(pins *versions.Versions) (string, error) {
		version, err := s.IstioVersionOrDefault()
		if err != nil {
			return "", err
		}
		return pins.NodeImageFor(version)
	})
}

// IstioVersionOrDefault is the Istio version the run is for: ISTIO_VERSION, else versions.yaml's
// default (what a cluster the run creates gets installed). The run's expectations are for it (a
// catalog block's since:/until:, the oracle's IstioVersion, world.StepExpectations): the specs are
// built from it before any cluster is reached, and world.CheckInstalledVersion holds an existing
// cluster's Istio to it.
func (s *Settings) IstioVersionOrDefault() (string, error) {
	return orPinned(s.IstioVersion, func(pins *versions.Versions) (string, error) { return pins.DefaultIstio, nil })
}

// CaptureImageRef is the image the wire specs' capture pod runs: CAPTURE_IMAGE, else the pin.
func (s *Settings) CaptureImageRef() (string, error) {
	return orPinned(s.CaptureImage, func(pins *versions.Versions) (string, error) { return pins.Images.Capture, nil })
}

// orPinned is a setting's value when the run gives one, else what pinned reads from
// versions.yaml (loaded only then).
func orPinned(value string, pinned func(*versions.Versions) (string, error)) (string, error) {
	if value != "" {
		return value, nil
	}
	pins, err := versions.Load()
	if err != nil {
		return "", err
	}
	return pinned(pins)
}

// CaptureAllowed says whether the wire specs may run their capture pod: always on a kind cluster
// (the run's own or one it reuses), on any other cluster only with ALLOW_CAPTURE, since the pod
// runs in the node's network namespace with NET_RAW and NET_ADMIN and sees every pod's traffic;
// never with DATAPLANE=ambient (ambientWireSkip).
func (s *Settings) CaptureAllowed() error {
	if err := s.ambientWireSkip(); err != nil {
		return err
	}
	if s.ClusterMode == ModeKind || s.AllowCapture {
		return nil
	}
	return errors.New("the wire capture runs a privileged host-network pod (tcpdump) on the server's node; on a cluster the suite did not create it needs --allow-capture (ALLOW_CAPTURE=1)")
}

// ValidateTrustDomain accepts what Istio accepts as meshConfig.trustDomain, with Istio's words:
// dot-separated RFC 1123 labels (either case, 1-63 characters, no leading or trailing hyphen),
// the last one allowed empty ("example.com."). istio/istio pkg/config/validation/agent/
// validation.go ValidateTrustDomain, with labels.IsDNS1123Label (pkg/config/labels/instance.go).
func ValidateTrustDomain(domain string) error {
	if domain == "" {
		return errors.New("empty domain name not allowed")
	}
	parts := strings.Split(domain, ".")
	for i, label := range parts {
		if i == len(parts)-1 && label == "" {
			return nil
		}
		if len(label) > 63 || !dns1123LabelRE.MatchString(label) {
			return fmt.Errorf("trust domain name %q invalid", domain)
		}
	}
	return nil
}

// dns1123LabelRE is Istio's dns1123LabelFmt (pkg/config/labels/instance.go).
var dns1123LabelRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$`)

// FromRepoRoot anchors a relative directory (reports, scenarios) at the repository root: Ginkgo
// runs a suite's test binary in the suite's own folder, and `make` runs from the root.
func FromRepoRoot(dir string) string {
	if dir == "" || filepath.IsAbs(dir) {
		return dir
	}
	if root, ok := RepoRoot(); ok {
		return filepath.Join(root, dir)
	}
	if wd, err := os.Getwd(); err == nil {
		return filepath.Join(wd, dir)
	}
	return dir
}

// RepoRoot is the checkout of this repository that holds the working directory: the nearest
// folder above it whose go.mod is this module's. false outside a checkout.
func RepoRoot() (string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for d := wd; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(data), "module github.com/mtls-conformance/mtls-conformance\n") {
			return d, true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// Describe lists the settings as the README's table does: flag, environment variable, usage.
func Describe(w io.Writer) {
	s := Defaults()
	for _, b := range s.table() {
		env := "—"
		if b.Env != "" {
			env = "`" + b.Env + "`"
		}
		fmt.Fprintf(w, "| `--%s` | %s | %s | `%s` |\n", b.Flag, env, b.Usage, b.Value.String())
	}
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type boolValue bool

func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) Set(s string) error {
	return set((*bool)(v), strconv.ParseBool, s, "not a boolean")
}
func (v *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (v *intValue) String() string     { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error { return set((*int)(v), strconv.Atoi, s, "not a whole number") }

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	return set((*time.Duration)(v), time.ParseDuration, s, "not a duration (e.g. 90s, 2m)")
}

// set is the parsed values' Set: parse s into *p, or fail with want alone (flag and ApplyEnv
// name the setting and the input; the parser's own message would repeat the input).
func set[T any](p *T, parse func(string) (T, error), s, want string) error {
	v, err := parse(s)
	if err != nil {
		return errors.New(want)
	}
	*p = v
	return nil
}
