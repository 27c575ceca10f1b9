package istio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/closedport"
	"github.com/mtls-conformance/mtls-conformance/versions"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/provenance"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

var (
	chartsOnce sync.Once
	chartsDir  string
	chartsErr  error
)

// sourceCharts returns istio/istio's manifests/charts at the pinned source module version,
// fetched into the module cache with `go mod download` (never required by go.mod).
func sourceCharts(t *testing.T) string {
	t.Helper()
	chartsOnce.Do(func() {
		pins, err := versions.Load()
		if err != nil {
			chartsErr = err
			return
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("go", "mod", "download", "-json", "istio.io/istio@"+pins.Istio.SourceModule)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			chartsErr = fmt.Errorf("go mod download istio.io/istio@%s: %v: %s %s", pins.Istio.SourceModule, err, stderr.String(), stdout.String())
			return
		}
		var mod struct{ Dir, Error string }
		if err := json.Unmarshal(stdout.Bytes(), &mod); err != nil {
			chartsErr = err
			return
		}
		if mod.Error != "" || mod.Dir == "" {
			chartsErr = fmt.Errorf("go mod download istio.io/istio: %s", mod.Error)
			return
		}
		chartsDir = filepath.Join(mod.Dir, "manifests", "charts")
	})
	if chartsErr != nil {
		t.Fatal(chartsErr)
	}
	return chartsDir
}

// defaultIstio is the version an Options without one gets: versions.yaml's default, read
// here so the tests follow a bump of the pin.
func defaultIstio(t *testing.T) string {
	t.Helper()
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	return pins.DefaultIstio
}

// offlineKubeconfig is a kubeconfig for a server that is never contacted by these tests.
func offlineKubeconfig(t *testing.T) string {
	t.Helper()
	addr := closedport.Addr(t)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	data := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://%s\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: c\n", addr)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// offlineInstaller is an Installer with opts for a cluster that never answers
// (offlineKubeconfig), closed when the test ends.
func offlineInstaller(t *testing.T, opts Options) *Installer {
	t.Helper()
	in, err := New(offlineKubeconfig(t), "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func TestValidateOptions(t *testing.T) {
	good := Options{}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if good.Version != defaultIstio(t) || good.Namespace != "istio-system" || good.RepoURL != "https://istio-release.storage.googleapis.com/charts" || good.Requests != settings.DefaultRequests() {
		t.Errorf("defaults: %+v", good)
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Version: "1.31"}, `invalid Istio version "1.31": expected MAJOR.MINOR.PATCH`},
		{Options{Version: "v1.31.1"}, `write 1.31.1 without the leading v`},
		{Options{Revision: "Canary"}, `Istio revision "Canary": a lowercase RFC 1123 label`},
		{Options{Revision: "default"}, `Istio revision "default" names the unrevisioned control plane`},
		{Options{Hub: "https://docker.io/istio"}, `Istio image hub "https://docker.io/istio" is not a registry/path`},
		{Options{Hub: "docker.io/istio:1.31.1"}, `is not a registry/path`},
		{Options{Tag: "1.31.1 latest"}, `Istio image tag "1.31.1 latest" is not a valid image tag`},
		{Options{Namespace: "Istio_System"}, `Istio namespace "Istio_System"`},
		{Options{ChartsDir: filepath.Join(t.TempDir(), "missing")}, `is not a directory`},
		{Options{Requests: settings.Requests{IstiodCPU: "500m"}}, `Istio resource requests: istiod memory "": quantities must match`},
	} {
		err := tc.opts.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
	}
	for _, hub := range []string{"docker.io/istio", "gcr.io/istio-release", "localhost:5000/istio", "registry.example.com:443/mirror/istio"} {
		o := Options{Hub: hub, Tag: "1.31.1-distroless"}
		if err := o.Validate(); err != nil {
			t.Errorf("hub %q: %v", hub, err)
		}
	}
}

// TestNewValidatesFirst: a bad version is reported before any client or cache is made.
func TestNewValidatesFirst(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, err := New(filepath.Join(tmp, "no-kubeconfig"), "", Options{Version: "1.31.x"})
	if err == nil || err.Error() != `invalid Istio version "1.31.x": expected MAJOR.MINOR.PATCH such as 1.31.1, optionally with -alpha.N, -beta.N or -rc.N` {
		t.Errorf("err = %v", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("New created %s before failing", entries[0].Name())
	}
}

func TestValues(t *testing.T) {
	in := offlineInstaller(t, Options{Revision: "canary", Hub: "localhost:5000/istio", Tag: "1.31.1",
		Values: map[string]any{"pilot": map[string]any{"autoscaleEnabled": false}, "global": map[string]any{"logAsJson": true}}})
	want := map[string]any{
		"global": map[string]any{"istioNamespace": "istio-system", "hub": "localhost:5000/istio", "tag": "1.31.1", "logAsJson": true,
			"proxy": smallRequests("10m", "40Mi")},
		"revision": "canary",
		"pilot":    map[string]any{"autoscaleEnabled": false, "resources": smallRequests("10m", "100Mi")["resources"]},
	}
	if got := in.IstiodValues(); !reflect.DeepEqual(got, want) {
		t.Errorf("IstiodValues =\n%v\nwant\n%v", got, want)
	}
	if got, want := in.BaseValues(), map[string]any{"global": map[string]any{"istioNamespace": "istio-system"}, "defaultRevision": "canary"}; !reflect.DeepEqual(got, want) {
		t.Errorf("BaseValues = %v, want %v", got, want)
	}
	if in.IstiodRelease() != "istiod-canary" || in.IstiodDeployment() != "istiod-canary" || in.Revision() != "canary" {
		t.Errorf("names: release %s deployment %s revision %s", in.IstiodRelease(), in.IstiodDeployment(), in.Revision())
	}
	var raised settings.Requests
	if err := raised.Set("istiod=1/3Gi,proxy=200m/256Mi"); err != nil {
		t.Fatal(err)
	}
	up := offlineInstaller(t, Options{Requests: raised})
	if got, want := up.IstiodValues(), map[string]any{
		"global": map[string]any{"istioNamespace": "istio-system", "proxy": smallRequests("200m", "256Mi")},
		"pilot":  smallRequests("1", "3Gi"),
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("raised IstiodValues = %v, want %v", got, want)
	}
	def := offlineInstaller(t, Options{})
	if def.IstiodRelease() != "istiod" || def.Revision() != "default" {
		t.Errorf("default names: %s %s", def.IstiodRelease(), def.Revision())
	}
	// Istio's demo profile's requests (istio-discovery files/profile-demo.yaml), not the chart's
	// 500m/2048Mi for istiod and 100m/128Mi per proxy (values.yaml).
	if got, want := def.IstiodValues(), map[string]any{
		"global": map[string]any{"istioNamespace": "istio-system", "proxy": smallRequests("10m", "40Mi")},
		"pilot":  smallRequests("10m", "100Mi"),
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("default IstiodValues = %v, want %v (no hub/tag/revision unless asked; the demo profile's requests)", got, want)
	}
}

// smallRequests is {resources: {requests: {cpu, memory}}}, the shape of the chart's
// pilot.resources and global.proxy.resources.
func smallRequests(cpu, memory string) map[string]any {
	return map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": cpu, "memory": memory}}}
}

// TestLocalCharts loads base and istiod from istio/istio's source tree, the layout --istio-charts
// accepts besides `helm pull` archives.
func TestLocalCharts(t *testing.T) {
	dir := sourceCharts(t)
	in := offlineInstaller(t, Options{ChartsDir: dir})
	_, err := in.LoadChart(BaseChart)
	want := "istio " + defaultIstio(t) + ": chart base in " + dir + " is Istio's unreleased source chart (version 1.0.0), whose images default to a test registry; set --istio-tag (and --istio-hub) to the images to run"
	if err == nil || err.Error() != want {
		t.Errorf("source chart without tag: %v", err)
	}
	in.opts.Tag = "1.31.1"
	for _, name := range []string{BaseChart, IstiodChart} {
		ch, err := in.LoadChart(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ch.Metadata.Name != name {
			t.Errorf("loaded %s for %s", ch.Metadata.Name, name)
		}
	}

	empty := t.TempDir()
	in.opts.ChartsDir = empty
	_, err = in.LoadChart(IstiodChart)
	v := defaultIstio(t)
	want = "istio " + v + ": no istiod chart in " + empty + " (looked for istiod-" + v + ".tgz, istiod, istio-control/istio-discovery); fetch it with: helm pull istio/istiod --version " + v
	if err == nil || err.Error() != want {
		t.Errorf("empty dir: %v", err)
	}
}

// chartRepo serves a Helm chart repository on 127.0.0.1 holding base at the given version,
// packaged from Istio's source chart.
func chartRepo(t *testing.T, version string) string {
	t.Helper()
	ch, err := loader.Load(filepath.Join(sourceCharts(t), "base"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.Version, ch.Metadata.AppVersion = version, version
	dir := t.TempDir()
	archive, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := provenance.DigestFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	idx := repo.NewIndexFile()
	if err := idx.MustAdd(ch.Metadata, filepath.Base(archive), srv.URL, digest); err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

func TestRepositoryCharts(t *testing.T) {
	url := chartRepo(t, "1.31.1")
	in := offlineInstaller(t, Options{RepoURL: url, Version: "1.31.1"})
	ch, err := in.LoadChart(BaseChart)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.Version != "1.31.1" {
		t.Errorf("downloaded base %s", ch.Metadata.Version)
	}

	missing := offlineInstaller(t, Options{RepoURL: url, Version: "1.31.2"})
	_, err = missing.LoadChart(BaseChart)
	want := "istio 1.31.2: the chart repository " + url + " has no base chart at version 1.31.2; check the Istio version (released versions: https://github.com/istio/istio/releases)"
	if err == nil || err.Error() != want {
		t.Errorf("missing version: %v", err)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	unreachable := offlineInstaller(t, Options{RepoURL: dead})
	_, err = unreachable.LoadChart(IstiodChart)
	if err == nil || !strings.HasPrefix(err.Error(), "istio "+defaultIstio(t)+": fetching chart istiod from "+dead+": looks like \""+dead+"\" is not a valid chart repository or cannot be reached") {
		t.Errorf("unreachable repository: %v", err)
	}
}

// TestCheckCharts: the pre-cluster check fails on a version the repository lacks and on an
// incomplete charts directory, and passes on Istio's charts with an image tag.
func TestCheckCharts(t *testing.T) {
	url := chartRepo(t, "1.31.1")
	// The loopback repository holds only base; istiod's absence is reported as such.
	err := CheckCharts(Options{RepoURL: url, Version: "1.31.1"})
	if err == nil || err.Error() != "istio 1.31.1: the chart repository "+url+" has no istiod chart at version 1.31.1; check the Istio version (released versions: https://github.com/istio/istio/releases)" {
		t.Errorf("repository without istiod: %v", err)
	}
	err = CheckCharts(Options{RepoURL: url, Version: "1.32.0"})
	if err == nil || !strings.Contains(err.Error(), "has no base chart at version 1.32.0") {
		t.Errorf("missing version: %v", err)
	}
	if err := CheckCharts(Options{ChartsDir: sourceCharts(t), Tag: "1.31.1"}); err != nil {
		t.Errorf("source charts: %v", err)
	}
	if err := CheckCharts(Options{Version: "1.31"}); err == nil || !strings.HasPrefix(err.Error(), `invalid Istio version "1.31"`) {
		t.Errorf("bad version form: %v", err)
	}
}
