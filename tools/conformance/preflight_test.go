package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPreflightNoRuntime: without Docker or Podman, one line in seconds, exit 1, and a run
// folder whose junit.xml names the failed step; nothing else is created.
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
	junits, _ := filepath.Glob(filepath.Join(reports, "2*", "junit.xml"))
	if len(junits) != 1 {
		t.Fatalf("junit files: %v", junits)
	}
	data, _ := os.ReadFile(junits[0])
	if !strings.Contains(string(data), `<testcase name="[Infrastructure] container runtime"`) || !strings.Contains(string(data), `failures="1"`) {
		t.Fatalf("junit:\n%s", data)
	}
}

func TestPreflightBadInput(t *testing.T) {
	cases := map[string]map[string]string{
		"istio version":  {"ISTIO_VERSION": "1.31"},
		"unpinned istio": {"ISTIO_VERSION": "1.20.0"},
		"cluster mode":   {"CLUSTER": "minikube"},
		"kubeconfig":     {"CLUSTER": "existing", "KUBECONFIG": "/nonexistent/kubeconfig"},
		"unreachable":    {"CLUSTER": "existing", "KUBECONFIG": writeKubeconfig(t, "https://127.0.0.1:1")},
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("REPORTS_DIR", t.TempDir())
			for k, v := range env {
				t.Setenv(k, v)
			}
			_, errOut, code := runCLI(t, "preflight")
			if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "conformance preflight: ") || strings.Contains(errOut, "secret-token") {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
		})
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
