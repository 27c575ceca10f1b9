package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// kind v0.33.0 release notes.
const (
	image137 = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
	image136 = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"
	image135 = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
)

func TestRenderConfigYAML(t *testing.T) {
	got, err := RenderConfigYAML(ConfigSpec{Name: "mtls-conformance", NodeImage: image137})
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: kind.x-k8s.io/v1alpha4
kind: Cluster
name: mtls-conformance
networking:
  apiServerAddress: 127.0.0.1
nodes:
- image: ` + image137 + `
  role: control-plane
`
	if string(got) != want {
		t.Errorf("rendered\n%s\nwant\n%s", got, want)
	}

	withWorkers, err := RenderConfigYAML(ConfigSpec{Name: "x", NodeImage: image136, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var cfg v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(withWorkers, &cfg); err != nil {
		t.Fatal(err)
	}
	roles := []v1alpha4.NodeRole{}
	for _, n := range cfg.Nodes {
		roles = append(roles, n.Role)
		if n.Image != image136 {
			t.Errorf("node %s image %s", n.Role, n.Image)
		}
	}
	if len(roles) != 3 || roles[0] != v1alpha4.ControlPlaneRole || roles[1] != v1alpha4.WorkerRole || roles[2] != v1alpha4.WorkerRole {
		t.Errorf("roles = %v", roles)
	}

	for _, bad := range []ConfigSpec{
		{Name: "", NodeImage: image137},
		{Name: "x", NodeImage: "Not An Image"},
		{Name: "x", NodeImage: image137, Workers: -1},
	} {
		if _, err := RenderConfig(bad); err == nil {
			t.Errorf("RenderConfig(%+v) accepted", bad)
		}
	}
}

func TestDefaults(t *testing.T) {
	p := NewProvider().WithOpts(WithEnv(noEnv)).(*Provider)
	if p.Name() != "mtls-conformance" || p.GetKubectlContext() != "kind-mtls-conformance" {
		t.Errorf("name %q context %q", p.Name(), p.GetKubectlContext())
	}

	p = &Provider{getenv: noEnv}
	p.SetDefaults()
	p.WithName("ci-1")
	p.WithVersion(image135)
	p.WithOpts(WithKeep(true))
	if p.optErr != nil {
		t.Fatal(p.optErr)
	}
	if p.Name() != "ci-1" || p.NodeImage() != image135 || !p.keeping() || p.reusing() {
		t.Errorf("from options: name %q image %q keep %v reuse %v", p.Name(), p.NodeImage(), p.keeping(), p.reusing())
	}

	p = &Provider{getenv: noEnv}
	p.SetDefaults()
	if p.NodeImage() != image137 {
		t.Errorf("default node image %q, want the default Istio's %q", p.NodeImage(), image137)
	}
}

// TestEnvironmentNeverOverridesOptions: the settings are resolved once (settings.Resolve, where
// an explicit flag wins over the environment) and handed to the provider, which must not read
// them from the environment again: a bad NODE_IMAGE or ISTIO_VERSION left in a shell must not
// break a run given --node-image, nor KEEP_CLUSTER=1 keep a cluster --keep-cluster=false deletes.
func TestEnvironmentNeverOverridesOptions(t *testing.T) {
	reports := t.TempDir()
	for k, v := range map[string]string{
		"NODE_IMAGE": "v9.9.9", "ISTIO_VERSION": "0.0.1", "CLUSTER_NAME": "from-env",
		"KEEP_CLUSTER": "1", "REUSE_CLUSTER": "1", "REPORTS_DIR": "/from-env",
	} {
		t.Setenv(k, v)
	}
	p := NewProvider()
	p.WithName("explicit")
	p.WithVersion(image136)
	p.WithOpts(WithKeep(false), WithReuse(false), WithReportsDir(reports))
	if p.optErr != nil {
		t.Fatalf("the environment broke explicit options: %v", p.optErr)
	}
	if p.Name() != "explicit" || p.NodeImage() != image136 || p.keep || p.reuse || p.keeping() || p.reusing() || p.resolvedReportsDir() != reports {
		t.Errorf("name %q image %q keep %v reuse %v reports %q", p.Name(), p.NodeImage(), p.keeping(), p.reusing(), p.resolvedReportsDir())
	}
	// Unset options take the provider's own defaults, not the environment.
	p = NewProvider()
	if p.optErr != nil || p.Name() != DefaultName || p.NodeImage() != image137 || p.keeping() || p.reusing() || p.resolvedReportsDir() != DefaultReportsDir() {
		t.Errorf("defaults under a hostile environment: name %q image %q keep %v reuse %v reports %q err %v",
			p.Name(), p.NodeImage(), p.keeping(), p.reusing(), p.resolvedReportsDir(), p.optErr)
	}
}

func TestWithVersion(t *testing.T) {
	p := &Provider{getenv: noEnv}
	p.SetDefaults()
	p.WithVersion("v1.36.4")
	if p.optErr != nil || p.NodeImage() != image136 {
		t.Errorf("WithVersion(v1.36.4): image %q err %v", p.NodeImage(), p.optErr)
	}
	p.WithVersion(image135)
	if p.optErr != nil || p.NodeImage() != image135 {
		t.Errorf("WithVersion(full image): image %q err %v", p.NodeImage(), p.optErr)
	}
	p.WithVersion("v1.33.0")
	want := `kind v0.33.0 has no node image for Kubernetes "v1.33.0" (it ships v1.37.0, v1.36.4, v1.35.8, v1.34.11); pass a kindest/node image pinned by digest instead`
	if p.optErr == nil || p.optErr.Error() != want {
		t.Errorf("WithVersion(v1.33.0) err = %v", p.optErr)
	}
	// The recorded error surfaces from Create before anything else happens.
	_, err := p.Create(context.Background())
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Create err = %v", err)
	}
}

// TestCreateWithoutRuntimeCreatesNothing drives creation the way a suite does, through
// e2e-framework's envfuncs.CreateCluster, on a machine without a container runtime: one line,
// under 5 s, and no kubeconfig, temp directory or reports directory appears.
func TestCreateWithoutRuntimeCreatesNothing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	reports := filepath.Join(t.TempDir(), "reports")

	p := NewProvider().WithOpts(WithEnv(noEnv), WithReportsDir(reports)).(*Provider)
	start := time.Now()
	_, err := envfuncs.CreateCluster(p, "mtls-conformance")(context.Background(), envconf.New())
	if elapsed := time.Since(start); elapsed > promise {
		t.Errorf("took %s", elapsed)
	}
	if !errors.Is(err, ErrNoRuntime) {
		t.Fatalf("err = %v, want ErrNoRuntime", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temp dir gained %d entries, e.g. %s", len(entries), entries[0].Name())
	}
	if _, err := os.Stat(reports); !os.IsNotExist(err) {
		t.Errorf("reports dir exists: %v", err)
	}
	if p.GetKubeconfig() != "" || p.Created() || p.KubernetesRestConfig() != nil {
		t.Errorf("provider claims a cluster: kubeconfig %q created %v", p.GetKubeconfig(), p.Created())
	}
	// Nothing was created, so there is nothing to destroy and no runtime is needed to say so.
	if err := p.Destroy(context.Background()); err != nil {
		t.Errorf("Destroy after failed create: %v", err)
	}
}

func TestRefusesUserKubeconfig(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	userConfig := filepath.Join(t.TempDir(), "config")
	p := NewProvider().WithOpts(
		WithEnv(envOf(map[string]string{"KUBECONFIG": userConfig})),
		WithKubeconfigPath(userConfig),
	).(*Provider)
	_, err := p.Create(context.Background())
	want := "kind cluster mtls-conformance: refusing to write the kubeconfig into " + userConfig + ", the user's own kubeconfig; choose another path or allow it explicitly"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v", err)
	}
	// Allowed explicitly, the next check (the runtime) is what fails here.
	p.WithOpts(WithUserKubeconfig())
	if _, err := p.Create(context.Background()); !errors.Is(err, ErrNoRuntime) {
		t.Errorf("with WithUserKubeconfig: err = %v, want ErrNoRuntime", err)
	}
}

func TestCreateArgs(t *testing.T) {
	p := NewProvider().WithOpts(WithEnv(noEnv)).(*Provider)
	if _, err := p.Create(context.Background(), "--kubeconfig=/tmp/x"); err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -kubeconfig") {
		t.Errorf("unknown flag: err = %v", err)
	}
	if _, err := p.Create(context.Background(), "extra"); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("positional: err = %v", err)
	}
}

func TestDestroyKeepsWhenAsked(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := NewProvider().WithOpts(WithEnv(noEnv), WithKeep(true)).(*Provider)
	p.created = true
	// With --keep-cluster Destroy must not even look for a runtime (there is none here).
	if err := p.Destroy(context.Background()); err != nil {
		t.Errorf("Destroy with WithKeep: %v", err)
	}
	p.WithOpts(WithKeep(false))
	if err := p.Destroy(context.Background()); !errors.Is(err, ErrNoRuntime) {
		t.Errorf("Destroy of a created cluster without runtime: err = %v, want ErrNoRuntime", err)
	}
}

func TestDefaultReportsDir(t *testing.T) {
	got := DefaultReportsDir()
	wd, _ := os.Getwd()
	want := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(wd))), "reports")
	if got != want {
		t.Errorf("DefaultReportsDir = %s, want %s", got, want)
	}
}
