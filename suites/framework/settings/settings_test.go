package settings

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
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
