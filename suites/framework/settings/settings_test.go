package settings

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

func resolve(t *testing.T, args []string, env map[string]string) (Settings, error) {
	t.Helper()
	s := Defaults()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	s.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	return s, s.Resolve(fs, func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	s, err := resolve(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.ClusterMode != ModeKind || s.Timeout != 120*time.Second || s.Consecutive != 3 || s.KeepCluster || s.AllowMeshWide {
		t.Fatalf("defaults = %+v", s)
	}
}

// TestDefaultConcurrencyIsTheMatrixSize: by default a step's whole matrix is probed at once, so
// a step takes as long as its slowest probe; the size comes from the fixtures, never typed.
func TestDefaultConcurrencyIsTheMatrixSize(t *testing.T) {
	topo, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := len(scenarios.Matrix(topo))
	if got := Defaults().Concurrency; got != want {
		t.Fatalf("default concurrency %d, want the matrix size %d", got, want)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	s, err := resolve(t, []string{"--concurrency=4"}, map[string]string{
		"CLUSTER": "existing", "KEEP_CLUSTER": "1", "CONVERGE_TIMEOUT": "90s", "CONCURRENCY": "2", "ALLOW_MESH_WIDE": "true", "ISTIO_VERSION": "1.30.5",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.ClusterMode != ModeExisting || !s.KeepCluster || s.Timeout != 90*time.Second || !s.AllowMeshWide || s.IstioVersion != "1.30.5" {
		t.Fatalf("env not applied: %+v", s)
	}
	if s.Concurrency != 4 {
		t.Fatalf("an explicit flag must win over the environment: concurrency = %d", s.Concurrency)
	}
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"CLUSTER": "minikube"}, `cluster mode "minikube"`},
		{nil, map[string]string{"KEEP_CLUSTER": "maybe"}, `KEEP_CLUSTER="maybe": not a boolean`},
		{nil, map[string]string{"CONVERGE_TIMEOUT": "2"}, "not a duration"},
		{[]string{"--consecutive=0"}, nil, "consecutive must be at least 1"},
		{[]string{"--concurrency=0"}, nil, "concurrency must be at least 1"},
		{nil, map[string]string{"KUBE_CONTEXT": "prod"}, "--context applies to CLUSTER=existing"},
		{nil, map[string]string{"TRUST_DOMAIN": "spiffe://cluster.local"}, `trust-domain: trust domain name "spiffe://cluster.local" invalid`},
		{[]string{"--trust-domain="}, nil, "trust-domain: empty domain name not allowed"},
		{nil, map[string]string{"CERT_TTL": "-1h"}, "cert-ttl must be a positive duration"},
		{[]string{"--cert-ttl=0s"}, nil, "cert-ttl must be a positive duration"},
	}
	for _, c := range cases {
		_, err := resolve(t, c.args, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: error = %v, want one line containing %q", c.args, c.env, err, c.want)
		}
	}
}

func TestFixtureVariant(t *testing.T) {
	s := Defaults()
	s.CurlImage, s.Inject = "localhost/mtls-conformance/curl:7.88.1", "none"
	v, err := s.FixtureVariant()
	if err != nil {
		t.Fatal(err)
	}
	if v.Images["docker.io/curlimages/curl:8.16.0"] != s.CurlImage || len(v.Images) != 1 {
		t.Errorf("images %v: want the pinned curl replaced only", v.Images)
	}
	if v.Injected == nil || len(v.Injected) != 0 || v.IsDocumented() {
		t.Errorf("INJECT=none gave %#v", v.Injected)
	}
	s.Inject = "foo, bar"
	if v, _ := s.FixtureVariant(); !v.IsDocumented() {
		t.Errorf("INJECT=foo,bar is the documented topology, got %v", v.Injected)
	}
	for name, bad := range map[string]func(*Settings){
		"untagged image":       func(s *Settings) { s.HttpbinImage = "mirror.example/go-httpbin" },
		"uppercase image":      func(s *Settings) { s.HttpbinImage = "Mirror/x:1" },
		"not a namespace":      func(s *Settings) { s.Inject = "istio-system" },
		"load-images existing": func(s *Settings) { s.ClusterMode, s.LoadImages = ModeExisting, true },
	} {
		s := Defaults()
		bad(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestValidateTrustDomain: the trust domain is checked as Istio checks meshConfig.trustDomain
// (istio/istio pkg/config/validation/agent/validation.go ValidateTrustDomain: dot-separated RFC
// 1123 labels of either case, at most 63 characters each, an optional trailing dot).
func TestValidateTrustDomain(t *testing.T) {
	for domain, want := range map[string]string{
		"cluster.local":         "",
		"Cluster.Local":         "",
		"example.com.":          "",
		"td-1":                  "",
		strings.Repeat("a", 63): "",
		"":                      "empty domain name not allowed",
		".":                     `trust domain name "." invalid`,
		"a..b":                  `trust domain name "a..b" invalid`,
		"-a.b":                  `trust domain name "-a.b" invalid`,
		"a_b":                   `trust domain name "a_b" invalid`,
		"spiffe://x":            `trust domain name "spiffe://x" invalid`,
		strings.Repeat("a", 64): `trust domain name "` + strings.Repeat("a", 64) + `" invalid`,
		"cluster.local/ns/foo":  `trust domain name "cluster.local/ns/foo" invalid`,
	} {
		err := ValidateTrustDomain(domain)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("ValidateTrustDomain(%q) = %q, want %q", domain, got, want)
		}
	}
}

// TestDefaultReportsDir: the default reports folder is the repository's reports/, found from the
// working directory (Ginkgo runs a suite in its package folder).
func TestDefaultReportsDir(t *testing.T) {
	got := FromRepoRoot(DefaultReportsDir)
	wd, _ := os.Getwd()
	want := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(wd))), "reports")
	if got != want {
		t.Errorf("FromRepoRoot(%s) = %s, want %s", DefaultReportsDir, got, want)
	}
}

// TestKindNodeImage: --node-image wins; else the image versions.yaml pins for the Istio version,
// else for the default Istio.
func TestKindNodeImage(t *testing.T) {
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	def, _ := pins.NodeImageFor(pins.DefaultIstio)
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{}, def},
		{Settings{IstioVersion: "1.30.5"}, pins.Istio.Releases[2].NodeImage},
		{Settings{IstioVersion: "1.30.5", NodeImage: "localhost/kind-node:v1"}, "localhost/kind-node:v1"},
	} {
		if got, err := tc.s.KindNodeImage(); err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.s, got, err, tc.want)
		}
	}
	if _, err := (&Settings{IstioVersion: "1.29.9"}).KindNodeImage(); err == nil || !strings.Contains(err.Error(), "no kind node image is pinned for Istio 1.29") {
		t.Errorf("unpinned minor: %v", err)
	}
}

// TestKindProvider: kind's own variable is a setting like the others; an explicit flag wins.
func TestKindProvider(t *testing.T) {
	s, err := resolve(t, nil, map[string]string{KindProviderEnv: "podman"})
	if err != nil || s.KindProvider != "podman" {
		t.Errorf("from the environment: %q, %v", s.KindProvider, err)
	}
	s, err = resolve(t, []string{"--kind-provider=docker"}, map[string]string{KindProviderEnv: "podman"})
	if err != nil || s.KindProvider != "docker" {
		t.Errorf("an explicit flag must win: %q, %v", s.KindProvider, err)
	}
}

// TestBindings: a command taking a few settings binds them with the run's flag, variable and value.
func TestBindings(t *testing.T) {
	s := Defaults()
	b := s.Bindings("kind-provider", "cluster-name")
	if len(b) != 2 || b[0].Flag != "cluster-name" || b[0].Env != "CLUSTER_NAME" || b[1].Env != KindProviderEnv {
		t.Fatalf("bindings %+v", b)
	}
	if err := b[1].Value.Set("nerdctl"); err != nil || s.KindProvider != "nerdctl" {
		t.Errorf("the binding does not set the setting: %q, %v", s.KindProvider, err)
	}
}

// TestRepoRoot: the checkout is found from a folder inside it (this package's), as the suites'
// reports and scenarios folders and the CLI's Istio engine need.
func TestRepoRoot(t *testing.T) {
	root, ok := RepoRoot()
	wd, _ := os.Getwd()
	if want := filepath.Dir(filepath.Dir(filepath.Dir(wd))); !ok || root != want {
		t.Errorf("RepoRoot() = %q, %v; want %q", root, ok, want)
	}
	t.Chdir(t.TempDir())
	if root, ok := RepoRoot(); ok {
		t.Errorf("outside a checkout: RepoRoot() = %q", root)
	}
}
