package cluster

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
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

	// The node image is NewKind's to check (TestBadNodeImage), not the renderer's.
	for _, bad := range []ConfigSpec{
		{Name: "", NodeImage: image137},
		{Name: "x", NodeImage: image137, Workers: -1},
	} {
		if _, err := RenderConfig(bad); err == nil {
			t.Errorf("RenderConfig(%+v) accepted", bad)
		}
	}
}

// kindSettings are the default settings with a few changed, resolved as a run resolves them
// (settings.Resolve, which NewKind relies on), with no flag given and an empty environment.
func kindSettings(t *testing.T, change func(*settings.Settings)) settings.Settings {
	t.Helper()
	s := settings.Defaults()
	if change != nil {
		change(&s)
	}
	if err := s.Resolve(flag.NewFlagSet("kind", flag.ContinueOnError), func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	return s
}

func newKind(t *testing.T, s settings.Settings) *Provider {
	t.Helper()
	p, err := NewKind(s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	p := newKind(t, kindSettings(t, nil))
	if p.Name() != "mtls-conformance" || p.kubeContext() != "kind-mtls-conformance" {
		t.Errorf("name %q context %q", p.Name(), p.kubeContext())
	}
	if p.NodeImage() != image137 || p.imageWarning != "" {
		t.Errorf("default node image %q (warning %q), want the default Istio's %q, which kind lists", p.NodeImage(), p.imageWarning, image137)
	}
	// An image kind does not list is taken, with CheckNodeImage's warning for Create to print.
	const local = "localhost/mtls-conformance/kind-node:v1.37.2"
	p = newKind(t, kindSettings(t, func(s *settings.Settings) { s.NodeImage = local }))
	if want, _ := CheckNodeImage(local); p.NodeImage() != local || want == "" || p.imageWarning != want {
		t.Errorf("unlisted node image %q: warning %q, want %q", p.NodeImage(), p.imageWarning, want)
	}

	p = newKind(t, kindSettings(t, func(s *settings.Settings) { s.ClusterName, s.NodeImage, s.KeepCluster = "ci-1", image135, true }))
	if p.Name() != "ci-1" || p.NodeImage() != image135 || !p.keep || p.reuse {
		t.Errorf("from settings: name %q image %q keep %v reuse %v", p.Name(), p.NodeImage(), p.keep, p.reuse)
	}
	// The node image follows the Istio version (settings.KindNodeImage).
	p = newKind(t, kindSettings(t, func(s *settings.Settings) { s.IstioVersion = "1.30.5" }))
	if p.NodeImage() != image136 {
		t.Errorf("Istio 1.30.5's node image %q, want %q", p.NodeImage(), image136)
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
		"KEEP_CLUSTER": "1", "REUSE_CLUSTER": "1", "REPORTS_DIR": "/from-env", "KIND_EXPERIMENTAL_PROVIDER": "podman",
	} {
		t.Setenv(k, v)
	}
	p, err := NewKind(kindSettings(t, func(s *settings.Settings) {
		s.ClusterName, s.NodeImage, s.KeepCluster, s.ReuseCluster, s.ReportsDir = "explicit", image136, false, false, reports
	}), io.Discard)
	if err != nil {
		t.Fatalf("the environment broke explicit options: %v", err)
	}
	if p.Name() != "explicit" || p.NodeImage() != image136 || p.keep || p.reuse || p.reportsDir != reports || p.runtimeName != "" {
		t.Errorf("name %q image %q keep %v reuse %v reports %q runtime %q", p.Name(), p.NodeImage(), p.keep, p.reuse, p.reportsDir, p.runtimeName)
	}
	// Unset options take the defaults, not the environment.
	p, err = NewKind(kindSettings(t, nil), io.Discard)
	if err != nil || p.Name() != settings.DefaultClusterName || p.NodeImage() != image137 || p.keep || p.reuse || p.reportsDir != settings.FromRepoRoot(settings.DefaultReportsDir) || p.runtimeName != "" {
		t.Errorf("defaults under a hostile environment: name %q image %q keep %v reuse %v reports %q runtime %q err %v",
			p.Name(), p.NodeImage(), p.keep, p.reuse, p.reportsDir, p.runtimeName, err)
	}
}

// TestBadNodeImage: a node image that is not an image reference, or an Istio version without a
// pinned image, fails before anything is created.
func TestBadNodeImage(t *testing.T) {
	if _, err := NewKind(kindSettings(t, func(s *settings.Settings) { s.NodeImage = "Not An Image" }), io.Discard); err == nil || !strings.Contains(err.Error(), `node image: image "Not An Image" is not an image reference`) {
		t.Errorf("bad node image: err = %v", err)
	}
	if _, err := NewKind(kindSettings(t, func(s *settings.Settings) { s.IstioVersion = "1.29.9" }), io.Discard); err == nil || !strings.Contains(err.Error(), "no kind node image is pinned for Istio 1.29") {
		t.Errorf("unpinned Istio: err = %v", err)
	}
}

// TestCreateWithoutRuntimeCreatesNothing drives creation the way a run does on a machine without
// a container runtime: one line, under 5 s, and no kubeconfig, temp directory or reports
// directory appears.
func TestCreateWithoutRuntimeCreatesNothing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	reports := filepath.Join(t.TempDir(), "reports")

	p := newKind(t, kindSettings(t, func(s *settings.Settings) { s.ReportsDir = reports }))
	start := time.Now()
	_, err := p.Create(context.Background())
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
	if p.kubeconfigPath != "" || p.Created() || p.KubernetesRestConfig() != nil {
		t.Errorf("provider claims a cluster: kubeconfig %q created %v", p.kubeconfigPath, p.Created())
	}
	// Nothing was created, so there is nothing to destroy and no runtime is needed to say so.
	if err := p.Destroy(context.Background()); err != nil {
		t.Errorf("Destroy after failed create: %v", err)
	}
}

func TestDestroyKeepsWhenAsked(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := newKind(t, kindSettings(t, func(s *settings.Settings) { s.KeepCluster = true }))
	p.created = true
	// With --keep-cluster Destroy must not even look for a runtime (there is none here).
	if err := p.Destroy(context.Background()); err != nil {
		t.Errorf("Destroy with KEEP_CLUSTER: %v", err)
	}
	p.keep = false
	if err := p.Destroy(context.Background()); !errors.Is(err, ErrNoRuntime) {
		t.Errorf("Destroy of a created cluster without runtime: err = %v, want ErrNoRuntime", err)
	}
}
