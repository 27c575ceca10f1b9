package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/istiocharts"
)

// TestPreflightNoRuntime: without Docker or Podman, one line in seconds, exit 1, and a JUnit
// file naming the failed step at REPORTS_DIR/preflight/junit.xml; no run folder, no latest.
func TestPreflightNoRuntime(t *testing.T) {
	reports := t.TempDir()
	t.Setenv("PATH", t.TempDir()) // no docker, podman or nerdctl to find
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	t.Setenv("CLUSTER", "kind")
	t.Setenv("REPORTS_DIR", reports)
	start := time.Now()
	out, errOut, code := runCLI(t, "preflight")
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %s, want under 10 s", took)
	}
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "container runtime") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	assertPreflightJUnit(t, reports, "container runtime")
}

// assertPreflightJUnit: the reports directory holds exactly preflight/junit.xml, a failed
// [Infrastructure] <step> testcase.
func assertPreflightJUnit(t *testing.T, reports, step string) {
	t.Helper()
	var files []string
	_ = filepath.WalkDir(reports, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() || d != nil && d.Type()&fs.ModeSymlink != 0 {
			rel, _ := filepath.Rel(reports, p)
			files = append(files, rel)
		}
		return nil
	})
	if want := []string{filepath.Join("preflight", "junit.xml")}; !slices.Equal(files, want) {
		t.Fatalf("reports dir holds %v, want only %v (no run folder, no latest)", files, want)
	}
	data, _ := os.ReadFile(filepath.Join(reports, "preflight", "junit.xml"))
	if !strings.Contains(string(data), `<testcase name="[Infrastructure] `+step+`"`) || !strings.Contains(string(data), `failures="1"`) {
		t.Fatalf("junit:\n%s", data)
	}
}

// TestPreflightBadInput: bad settings, versions or kubeconfig selections are one line and exit 2,
// and create nothing: not even the reports directory.
func TestPreflightBadInput(t *testing.T) {
	kubeconfig := writeKubeconfig(t, "https://127.0.0.1:1")
	emptyDir := t.TempDir()
	// base and istiod, as an air-gapped sidecar install keeps them; no cni, no ztunnel.
	sidecarCharts := t.TempDir()
	for name, from := range map[string]string{"base": "base", "istiod": "istio-control/istio-discovery"} {
		if err := os.Symlink(filepath.Join(istiocharts.Dir(t), from), filepath.Join(sidecarCharts, name)); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]struct {
		args []string
		env  map[string]string
		msg  string
	}{
		"istio version":   {nil, map[string]string{"ISTIO_VERSION": "1.31"}, "istio version"},
		"unpinned istio":  {nil, map[string]string{"ISTIO_VERSION": "1.20.0"}, "1.20"},
		"cluster mode":    {nil, map[string]string{"CLUSTER": "minikube"}, `cluster mode "minikube"`},
		"trust domain":    {nil, map[string]string{"TRUST_DOMAIN": "spiffe://cluster.local"}, `trust domain name "spiffe://cluster.local" invalid`},
		"trust flag":      {[]string{"--trust-domain=a..b"}, nil, `trust domain name "a..b" invalid`},
		"cert ttl":        {nil, map[string]string{"CERT_TTL": "-1h"}, "cert-ttl must be a positive duration"},
		"cert ttl syntax": {nil, map[string]string{"CERT_TTL": "a day"}, "not a duration"},
		"kubeconfig":      {nil, map[string]string{"CLUSTER": "existing", "KUBECONFIG": "/nonexistent/kubeconfig"}, "kubeconfig not found: /nonexistent/kubeconfig"},
		"kubeconfig flag": {[]string{"--cluster=existing", "--kubeconfig=/nonexistent/kc"}, nil, "kubeconfig not found: /nonexistent/kc"},
		"context":         {nil, map[string]string{"CLUSTER": "existing", "KUBECONFIG": kubeconfig, "KUBE_CONTEXT": "prod"}, `context "prod" is not in kubeconfig`},
		"unknown flag":    {[]string{"--nope"}, nil, "flag provided but not defined: -nope"},
		"stray argument":  {[]string{"extra"}, nil, `unexpected argument "extra"`},
		"upgrade from":    {[]string{"upgrade", "--from=1.31"}, nil, "--from"},
		"upgrade env":     {[]string{"upgrade"}, map[string]string{"UPGRADE_FROM": "latest"}, "--from"},
		"upgrade order":   {[]string{"upgrade", "--from=1.31.1", "--to=1.30.5"}, nil, "is not newer than"},
		"upgrade mode":    {[]string{"upgrade", "--mode=blue"}, nil, `upgrade mode "blue": want inplace or canary`},
		"upgrade setting": {[]string{"upgrade"}, map[string]string{"CERT_TTL": "0s"}, "cert-ttl"},
		"upgrade stray":   {[]string{"upgrade", "now"}, nil, `unexpected argument "now"`},
		// The upgrade engine's own steps, as the suite runs them (upgrade.Options.InstallFirst, PickNodeImage).
		"upgrade istio version": {[]string{"upgrade", "--from=1.31.4", "--to=1.32.0", "--istio-version=1.32.0"}, nil, "--istio-version=1.32.0 contradicts --from=1.31.4"},
		"upgrade node image":    {[]string{"upgrade", "--from=1.29.9", "--to=1.30.8"}, nil, "no kind node image is pinned for Istio 1.29"},
		// What the suite checks before creating anything, preflight checks too.
		"node image":   {nil, map[string]string{"NODE_IMAGE": "Not An Image"}, `node image: image "Not An Image"`},
		"kind patch":   {nil, map[string]string{"KIND_CONFIG_PATCH": "/nonexistent/kind.yaml"}, "kind config patch"},
		"charts":       {nil, map[string]string{"ISTIO_CHARTS": emptyDir, "ISTIO_TAG": "1.31.0"}, "no base chart in " + emptyDir},
		"inject":       {nil, map[string]string{"INJECT": "kube-system"}, `injected namespace "kube-system" is not a fixture namespace`},
		"mirror image": {nil, map[string]string{"CURL_IMAGE": "mirror/curl"}, `image "mirror/curl" is not an image reference`},
		// An ambient run installs the cni and ztunnel charts too, and enrols the fixtures.
		"ambient charts": {nil, map[string]string{"ISTIO_CHARTS": sidecarCharts, "ISTIO_TAG": "1.31.0", "DATAPLANE": "ambient"}, "no cni chart in " + sidecarCharts},
		"ambient inject": {nil, map[string]string{"DATAPLANE": "ambient", "INJECT": "foo"}, "inject chooses sidecar namespaces; with dataplane ambient foo and bar are enrolled"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			reports := filepath.Join(t.TempDir(), "reports")
			t.Setenv("REPORTS_DIR", reports)
			t.Setenv("PATH", t.TempDir()) // were the input accepted, no runtime: exit 1, not 2
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, errOut, code := runCLI(t, append([]string{"preflight"}, tc.args...)...)
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "conformance preflight") || !strings.Contains(errOut, tc.msg) || strings.Contains(errOut, "secret-token") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", code, out, errOut, tc.msg)
			}
			if _, err := os.Lstat(reports); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("bad input created %s (%v)", reports, err)
			}
		})
	}
}

// TestPreflightUnreachable: a cluster that does not answer is not bad input: exit 1 and the
// preflight JUnit.
func TestPreflightUnreachable(t *testing.T) {
	reports := t.TempDir()
	t.Setenv("REPORTS_DIR", reports)
	t.Setenv("CLUSTER", "existing")
	t.Setenv("KUBECONFIG", writeKubeconfig(t, "https://127.0.0.1:1"))
	for _, args := range [][]string{{"preflight"}, {"preflight", "upgrade"}} {
		out, errOut, code := runCLI(t, args...)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "is unreachable") || strings.Contains(errOut, "secret-token") {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		assertPreflightJUnit(t, reports, "cluster")
	}
}

// TestPreflightOK: a reachable cluster passes, for the conformance and the upgrade suite, and a
// preflight JUnit an earlier failure left is removed.
func TestPreflightOK(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	defer srv.Close()
	reports := t.TempDir()
	t.Setenv("REPORTS_DIR", reports)
	t.Setenv("CLUSTER", "existing")
	t.Setenv("KUBECONFIG", writeKubeconfig(t, srv.URL))
	for _, args := range [][]string{{"preflight"}, {"preflight", "upgrade", "--mode=canary"}} {
		stale := filepath.Join(reports, "preflight", "junit.xml")
		if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stale, []byte("<testsuites/>"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runCLI(t, args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "preflight: ok (cluster "+srv.URL+" v1.37.2") {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		if _, err := os.Lstat(filepath.Dir(stale)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v: the stale preflight JUnit is still there (%v)", args, err)
		}
	}
}

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: " + server + ", insecure-skip-tls-verify: true}\n" +
		"users:\n- name: u\n  user: {token: secret-token-never-printed}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClusterDeleteNoRuntime(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	_, errOut, code := runCLI(t, "cluster", "delete")
	if code != 1 || !strings.Contains(errOut, "no usable container runtime") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if _, _, code := runCLI(t, "cluster"); code != 2 {
		t.Fatalf("usage error exit %d, want 2", code)
	}
}
