//go:build localcluster

// Package localcluster runs the project's own cluster, Istio and fixture code for real: a kind
// cluster from a node image built here (tools/localimages), Istio from the pinned source charts
// with an istiod built from istio.io/istio, the fixtures, and probes through a real kubelet's
// exec. `make test-kind` builds the images and sets the suite's settings (NODE_IMAGE,
// ISTIO_CHARTS, ISTIO_HUB, ISTIO_TAG, HTTPBIN_IMAGE, CURL_IMAGE, LOAD_IMAGES, KIND_CONFIG_PATCH,
// INJECT=none); this package reads them through settings, as the suites do.
//
// No Envoy binary is reachable here, so no namespace is injected: sidecar semantics are proven
// by Istio's own config generator (tools/istiogen), everything else runs.
package localcluster

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
)

// Timeouts of this tier, in one place.
var timeouts = struct {
	Setup, Teardown, Webhook, Probe time.Duration
}{Setup: 10 * time.Minute, Teardown: 5 * time.Minute, Webhook: 2 * time.Minute, Probe: time.Minute}

var (
	cfg settings.Settings
	w   *world.World
	// kube is a clientset of the run's cluster (w.Config), made once setup has passed.
	kube kubernetes.Interface
	// userKubeconfig is ~/.kube/config before the run: the run must leave it as it was.
	userKubeconfig = userKubeconfigState()
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	cfg = settings.Defaults()
	fs := flag.NewFlagSet("localcluster", flag.ContinueOnError)
	cfg.Bind(fs)
	if err := cfg.Resolve(fs, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL settings:", err)
		return 1
	}
	if cfg.ClusterMode != settings.ModeKind || cfg.NodeImage == "" || !cfg.LoadImages || cfg.Inject != "none" {
		fmt.Fprintln(os.Stderr, "FAIL this tier needs the settings `make test-kind` sets (CLUSTER=kind, NODE_IMAGE, LOAD_IMAGES=1, INJECT=none, ...)")
		return 1
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		// In CI a missing runtime is a failure, never a skip.
		fmt.Fprintf(os.Stderr, "FAIL no container runtime: docker info: %v: %s\n", err, firstLine(out))
		return 1
	}
	runReport, err := report.NewRun(cfg.ReportsDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL reports:", err)
		return 1
	}
	w, err = world.New(cfg, runReport, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL world:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeouts.Setup)
	start := time.Now()
	setupErr := w.Setup(ctx)
	cancel()
	code := 0
	if setupErr != nil {
		fmt.Fprintf(os.Stderr, "FAIL setup (cluster, Istio, fixtures) after %s: %v\n", time.Since(start).Round(time.Second), setupErr)
		code = 1
	} else {
		fmt.Printf("setup (cluster, Istio, fixtures): %s\n", time.Since(start).Round(time.Second))
		kube = kubernetes.NewForConfigOrDie(w.Config)
		code = m.Run()
	}
	if err := w.Teardown(timeouts.Teardown); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL teardown:", err)
		code = 1
	}
	// What teardown must leave: no node container of the cluster (kind labels them
	// io.x-k8s.kind.cluster=<name>, kind pkg/cluster/internal/providers/docker/constants.go).
	if left := kindContainers(cfg.ClusterName); left != "" {
		fmt.Fprintf(os.Stderr, "FAIL teardown left kind containers: %s\n", left)
		code = 1
	} else {
		fmt.Println("teardown: no kind container left")
	}
	if userKubeconfigState() != userKubeconfig {
		fmt.Fprintln(os.Stderr, "FAIL ~/.kube/config changed during the run")
		code = 1
	}
	return code
}

// userKubeconfigState is the content hash of ~/.kube/config, or "absent".
func userKubeconfigState() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return "no home"
	}
	data, err := os.ReadFile(filepath.Join(home, ".kube", "config"))
	if err != nil {
		return "absent"
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

func kindContainers(cluster string) string {
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster="+cluster, "--format", "{{.Names}}").CombinedOutput()
	if err != nil {
		return "docker ps failed: " + firstLine(out)
	}
	return strings.TrimSpace(string(out))
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
