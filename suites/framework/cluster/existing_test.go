package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/closedport"
)

func writeKubeconfig(t *testing.T, server string, contexts ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: secret-token-never-printed\ncontexts:\n", server)
	for _, c := range contexts {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: c\n    user: u\n", c)
	}
	if len(contexts) > 0 {
		fmt.Fprintf(&b, "current-context: %s\n", contexts[0])
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConnectUnreachable(t *testing.T) {
	server := "https://" + closedport.Addr(t)
	kc := writeKubeconfig(t, server, "dead")
	start := time.Now()
	_, err := Connect(context.Background(), ConnectOptions{Kubeconfig: kc, Context: "dead"})
	if elapsed := time.Since(start); elapsed > promise {
		t.Errorf("took %s", elapsed)
	}
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	msg := err.Error()
	wantPrefix := fmt.Sprintf(`existing cluster: API server %s (context "dead", kubeconfig %s) is unreachable: `, server, kc)
	if !strings.HasPrefix(msg, wantPrefix) || !strings.Contains(msg, "connection refused") {
		t.Errorf("err =\n%s\nwant prefix\n%s\nand \"connection refused\"", msg, wantPrefix)
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "secret-token-never-printed") {
		t.Errorf("error is not one clean line: %q", msg)
	}
	if BadSelection(err) {
		t.Errorf("an unreachable cluster is not bad input: %v", err)
	}
}

func TestConnectBadSelection(t *testing.T) {
	kc := writeKubeconfig(t, "https://127.0.0.1:6443", "kind-a", "kind-b")
	_, err := Connect(context.Background(), ConnectOptions{Kubeconfig: kc, Context: "prod"})
	want := fmt.Sprintf(`existing cluster: context "prod" is not in kubeconfig %s (contexts: kind-a, kind-b)`, kc)
	if err == nil || err.Error() != want || !BadSelection(err) {
		t.Errorf("missing context: err = %v (bad selection: %t)", err, BadSelection(err))
	}

	noCurrent := writeKubeconfig(t, "https://127.0.0.1:6443")
	_, err = Connect(context.Background(), ConnectOptions{Kubeconfig: noCurrent})
	want = fmt.Sprintf("existing cluster: kubeconfig %s has no current context; pass --context", noCurrent)
	if err == nil || err.Error() != want || !BadSelection(err) {
		t.Errorf("no current context: err = %v (bad selection: %t)", err, BadSelection(err))
	}

	garbled := filepath.Join(t.TempDir(), "garbled")
	if err := os.WriteFile(garbled, []byte("clusters: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Connect(context.Background(), ConnectOptions{Kubeconfig: garbled})
	if err == nil || !strings.HasPrefix(err.Error(), "existing cluster: reading kubeconfig "+garbled+": ") || strings.Contains(err.Error(), "\n") || !BadSelection(err) {
		t.Errorf("unreadable file: err = %v", err)
	}
}

// TestConnectKubeconfigNotFound: a kubeconfig that is not there is named in one line, whichever
// way it was chosen (--kubeconfig, the KUBECONFIG list, ~/.kube/config), never client-go's dump.
func TestConnectKubeconfigNotFound(t *testing.T) {
	dir := t.TempDir()
	missing, alsoMissing := filepath.Join(dir, "nope"), filepath.Join(dir, "nope2")
	list := missing + string(filepath.ListSeparator) + alsoMissing
	for _, tc := range []struct {
		name, flag, env, want string
	}{
		{"--kubeconfig", missing, "", missing},
		{"--kubeconfig over KUBECONFIG", missing, writeKubeconfig(t, "https://127.0.0.1:6443", "x"), missing},
		{"KUBECONFIG", "", missing, missing},
		{"KUBECONFIG list", "", list, list},
		// client-go takes the home directory once, when it loads (clientcmd.RecommendedHomeFile).
		{"~/.kube/config", "", "", clientcmd.RecommendedHomeFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.want); err == nil {
				t.Skipf("%s exists on this machine", tc.want)
			}
			t.Setenv("KUBECONFIG", tc.env)
			_, err := Connect(context.Background(), ConnectOptions{Kubeconfig: tc.flag})
			want := "existing cluster: kubeconfig not found: " + tc.want
			if err == nil || err.Error() != want || !errors.Is(err, ErrKubeconfigNotFound) || !BadSelection(err) {
				t.Errorf("err = %v, want %q (ErrKubeconfigNotFound)", err, want)
			}
		})
	}
}

// TestConnectKUBECONFIG: without --kubeconfig, $KUBECONFIG is used (kubectl's rule).
func TestConnectKUBECONFIG(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	defer srv.Close()
	t.Setenv("KUBECONFIG", writeKubeconfig(t, srv.URL, "ci"))
	conn, err := Connect(context.Background(), ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Context != "ci" || conn.Server != srv.URL || conn.ServerVersion != "v1.37.2" {
		t.Errorf("connection = %+v", conn)
	}
}

func TestVersionFromImage(t *testing.T) {
	for image, want := range map[string]string{
		"docker.io/istio/pilot:1.31.1":                         "1.31.1",
		"docker.io/istio/pilot:1.30.5-distroless":              "1.30.5",
		"gcr.io/istio-release/pilot:1.31.0-rc.4-debug":         "1.31.0-rc.4",
		"localhost:5000/istio/pilot:1.29.9":                    "1.29.9",
		"registry.istio.io/testing/pilot:latest":               "",
		"localhost:5000/istio/pilot":                           "",
		"docker.io/istio/pilot:1.31.1@sha256:0123456789abcdef": "1.31.1",
		"": "",
	} {
		if got := VersionFromImage(image); got != want {
			t.Errorf("VersionFromImage(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestMeshWideAllowed(t *testing.T) {
	if err := MeshWideAllowed(true, false); err != nil {
		t.Errorf("created by suite: %v", err)
	}
	if err := MeshWideAllowed(false, true); err != nil {
		t.Errorf("--allow-mesh-wide: %v", err)
	}
	err := MeshWideAllowed(false, false)
	if !errors.Is(err, ErrMeshWideNotAllowed) || !strings.Contains(err.Error(), "--allow-mesh-wide") {
		t.Errorf("existing cluster without opt-in: %v", err)
	}
}

func TestIstioSummary(t *testing.T) {
	for _, tc := range []struct {
		in   IstioInstallation
		want string
	}{
		{IstioInstallation{MissingCRDs: IstioCRDs}, "Istio not installed (no Istio CRDs, no istiod)"},
		{IstioInstallation{}, "Istio CRDs installed, no istiod"},
		{IstioInstallation{Istiods: []Istiod{{Namespace: "istio-system", Name: "istiod", Revision: "default", Version: "1.31.1", Available: true}}},
			"istiod istio-system/istiod revision default Istio 1.31.1, available"},
	} {
		if got := tc.in.Summary(); got != tc.want {
			t.Errorf("Summary = %q, want %q", got, tc.want)
		}
	}
}
