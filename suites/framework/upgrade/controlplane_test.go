package upgrade

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
)

// offlineKubeconfig is a kubeconfig for a server these tests never contact.
func offlineKubeconfig(t *testing.T) (path, server string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server = "https://" + l.Addr().String()
	l.Close()
	path = filepath.Join(t.TempDir(), "kubeconfig")
	data := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: c\n", server)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, server
}

// TestCanaryKeepsTheMeshConfig: the canary control plane is configured as the one it replaces
// (world installs FROM with meshConfig.trustDomain = the run's trust domain); only where TO's
// charts and images come from is the target's. Without it the canary istiod would sign
// certificates for cluster.local while the old one signs for the run's trust domain.
func TestCanaryKeepsTheMeshConfig(t *testing.T) {
	kubeconfig, server := offlineKubeconfig(t)
	old, err := istio.New(kubeconfig, "", istio.Options{Version: "1.30.5", Hub: "mirror.example/istio", Tag: "1.30.5-patched",
		Values: map[string]any{"meshConfig": map[string]any{"trustDomain": "example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	cp, err := NewControlPlane(old, Options{From: "1.30.5", To: "1.31.1", Mode: Canary, ProbeInterval: DefaultProbeInterval}, ControlPlaneConfig{
		Kubeconfig: kubeconfig, Rest: &rest.Config{Host: server},
		Target: istio.Options{Hub: "mirror.example/istio"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close(t.Context(), true) })
	values := cp.Canary().IstiodValues()
	mesh, _ := values["meshConfig"].(map[string]any)
	if mesh["trustDomain"] != "example.org" {
		t.Errorf("canary istiod values %v: meshConfig.trustDomain is not the old control plane's example.org", values)
	}
	global, _ := values["global"].(map[string]any)
	// TO's images: the target's hub, the chart's own tag (FROM's --istio-tag is not TO's).
	if global["hub"] != "mirror.example/istio" || global["tag"] != nil || values["revision"] != "1-31-1" {
		t.Errorf("canary istiod values %v: want the target's hub, no tag override, revision 1-31-1", values)
	}
	if cp.Canary().Version() != "1.31.1" || cp.Canary().Namespace() != old.Namespace() {
		t.Errorf("canary: Istio %s in %s", cp.Canary().Version(), cp.Canary().Namespace())
	}
}
