// Package envtestenv runs a real kube-apiserver and etcd (built from the Kubernetes and etcd Go
// modules by tools/kubebin/build.sh) through controller-runtime's envtest, with Istio's real CRDs
// — including their CEL validation rules — installed from the istio.io/api module in go.mod.
//
// The tier is opt-in by environment so that `go test ./...` works on a machine without the binaries,
// and mandatory in `make test`:
//
//	KUBEBUILDER_ASSETS=<dir>    directory holding kube-apiserver, etcd and kubectl (tools/kubebin/build.sh prints it)
//	MTLS_REQUIRE_ENVTEST=1      missing binaries fail the test instead of skipping it
package envtestenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Environment variables that switch the tier on and make it mandatory.
const (
	EnvAssets  = "KUBEBUILDER_ASSETS"
	EnvRequire = "MTLS_REQUIRE_ENVTEST"
)

// Binaries the tier needs in EnvAssets (what tools/kubebin/build.sh builds, and what
// setup-envtest downloads). kubectl is there for tests and people that drive the apiserver with it.
var requiredBinaries = []string{"kube-apiserver", "etcd", "kubectl"}

// istioCRDFile is where istio.io/api keeps every Istio CRD in one file; istio/istio's
// manifests/charts/base/files/crd-all.gen.yaml is generated from the same source.
const istioCRDFile = "kubernetes/customresourcedefinitions.gen.yaml"

// Start-up budgets. envtest's own 20 s default is too short on a loaded two-core machine.
const (
	controlPlaneStartTimeout = 2 * time.Minute
	controlPlaneStopTimeout  = 30 * time.Second
	crdReadyTimeout          = time.Minute
)

// Env is one running kube-apiserver + etcd with Istio's CRDs installed and established.
type Env struct {
	// Config authenticates as an admin (group system:masters).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for Config, for tools that take a file.
	Kubeconfig string
	// BinaryDir is the directory kube-apiserver and etcd were started from (KUBEBUILDER_ASSETS);
	// it also holds the matching kubectl.
	BinaryDir string
	// IstioCRDFile is the CRD file that was installed; IstioCRDs are its CRDs as installed.
	IstioCRDFile string
	IstioCRDs    []*apiextensionsv1.CustomResourceDefinition

	testEnv        *envtest.Environment
	tempDir        string // kubeconfig, etcd data and apiserver certificates
	webhookCertDir string // envtest's own temporary directory
	reaper         *reaper
	stopOnce       sync.Once
	stopErr        error
}

// Kube is a clientset for the Env's kube-apiserver; a config it cannot use fails the test.
func (e *Env) Kube(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	kube, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	return kube
}

// Start starts an Env for one test and stops it in t.Cleanup. It skips the test when the tier is
// not configured, and fails it when the tier is required but unusable. Starting takes seconds;
// packages with many tests should use Main and Shared instead.
func Start(t testing.TB) *Env {
	t.Helper()
	dir, skipReason, err := binaryDir()
	if err != nil {
		t.Fatal(err)
	}
	if skipReason != "" {
		t.Skip(skipReason)
	}
	started := time.Now()
	env, err := launch(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver, etcd and Istio CRDs ready in %s", time.Since(started).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping kube-apiserver and etcd: %v", err)
		}
	})
	return env
}

// Package-wide environment of Main, read by Shared.
var (
	sharedEnv        *Env
	sharedSkipReason string
	sharedStarted    bool
)

// Main starts one Env for a whole test binary, runs its tests and stops the Env; use it as
//
//	func TestMain(m *testing.M) { os.Exit(envtestenv.Main(m)) }
//
// and get the Env in each test with Shared. When the tier is not configured the tests still run
// and Shared skips them; when it is required but unusable, Main fails the binary without running
// them.
func Main(m *testing.M) int {
	sharedStarted = true
	dir, skipReason, err := binaryDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtestenv:", err)
		return 1
	}
	if skipReason != "" {
		sharedSkipReason = skipReason
		return m.Run()
	}
	started := time.Now()
	env, err := launch(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtestenv:", err)
		return 1
	}
	// Printed before flags are parsed (testing.Verbose would panic); go test shows it with -v or on failure.
	fmt.Fprintf(os.Stderr, "envtestenv: kube-apiserver, etcd and Istio CRDs ready in %s\n", time.Since(started).Round(time.Millisecond))
	sharedEnv = env
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "envtestenv: stopping kube-apiserver and etcd:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Shared returns the Env that Main started, or skips t when the tier is not configured.
func Shared(t testing.TB) *Env {
	t.Helper()
	if !sharedStarted {
		t.Fatal("envtestenv.Shared needs func TestMain(m *testing.M) { os.Exit(envtestenv.Main(m)) }")
	}
	if sharedSkipReason != "" {
		t.Skip(sharedSkipReason)
	}
	return sharedEnv
}

// binaryDir returns the directory holding the binaries, or why the tier is skipped, or why it
// cannot run although it must.
func binaryDir() (dir, skipReason string, err error) {
	const howTo = "run `make test`, or export " + EnvAssets + "=$(tools/kubebin/build.sh)"
	dir = os.Getenv(EnvAssets)
	if dir == "" {
		if os.Getenv(EnvRequire) == "1" {
			return "", "", fmt.Errorf("%s=1 but %s is not set: %s", EnvRequire, EnvAssets, howTo)
		}
		return "", fmt.Sprintf("real kube-apiserver tier off: %s is not set (%s)", EnvAssets, howTo), nil
	}
	// A directory was named explicitly, so a missing binary is a mistake even when not required.
	for _, name := range requiredBinaries {
		info, statErr := os.Stat(filepath.Join(dir, name))
		switch {
		case statErr != nil:
			return "", "", fmt.Errorf("%s=%s: %w (%s)", EnvAssets, dir, statErr, howTo)
		case !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0:
			return "", "", fmt.Errorf("%s=%s: %s is not an executable file (%s)", EnvAssets, dir, name, howTo)
		}
	}
	return dir, "", nil
}

// IstioCRDPath returns the path of Istio's CRD file in the module cache, for the istio.io/api
// version this module requires. It asks the go command, which knows module replacements and the
// cache layout (go test puts its own go first on PATH).
func IstioCRDPath() (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("locating the istio.io/api module: go list -m istio.io/api: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	moduleDir := strings.TrimSpace(stdout.String())
	if moduleDir == "" {
		return "", errors.New("locating the istio.io/api module: it is not downloaded (run `go mod download istio.io/api`)")
	}
	path := filepath.Join(moduleDir, filepath.FromSlash(istioCRDFile))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("istio.io/api CRDs: %w", err)
	}
	return path, nil
}

// launch starts kube-apiserver and etcd from dir and installs Istio's CRDs.
func launch(dir string) (_ *Env, err error) {
	crdPath, err := IstioCRDPath()
	if err != nil {
		return nil, err
	}
	env := &Env{BinaryDir: dir, IstioCRDFile: crdPath}
	env.tempDir, err = os.MkdirTemp("", "envtestenv-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = env.Stop()
		}
	}()
	// The control plane's own output is kept (bounded) so a failed start says why.
	apiserverLog, etcdLog := &tailBuffer{}, &tailBuffer{}
	env.testEnv = &envtest.Environment{
		BinaryAssetsDirectory: dir,
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{
				Path: filepath.Join(dir, "kube-apiserver"), CertDir: filepath.Join(env.tempDir, "apiserver"),
				Out: apiserverLog, Err: apiserverLog,
			},
			Etcd: &envtest.Etcd{
				Path: filepath.Join(dir, "etcd"), DataDir: filepath.Join(env.tempDir, "etcd"),
				Out: etcdLog, Err: etcdLog,
			},
		},
		ControlPlaneStartTimeout: controlPlaneStartTimeout,
		ControlPlaneStopTimeout:  controlPlaneStopTimeout,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{crdPath},
			ErrorIfPathMissing: true,
			MaxTime:            crdReadyTimeout,
		},
	}
	for _, sub := range []string{"apiserver", "etcd"} {
		if err := os.Mkdir(filepath.Join(env.tempDir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	if _, err := env.testEnv.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w\n--- kube-apiserver output (tail) ---\n%s\n--- etcd output (tail) ---\n%s",
			dir, err, apiserverLog.String(), etcdLog.String())
	}
	// envtest always makes a webhook serving-certificate directory in $TMPDIR (WebhookInstallOptions
	// setupCA); Stop removes it, and so must the reaper.
	env.webhookCertDir = env.testEnv.WebhookInstallOptions.LocalServingCertDir
	if env.reaper, err = startReaper(env.tempDir, env.webhookCertDir, env.testEnv.ControlPlane.APIServer.Path, env.testEnv.ControlPlane.Etcd.Path); err != nil {
		return nil, err
	}
	env.Config = env.testEnv.Config
	env.IstioCRDs = env.testEnv.CRDs
	env.Kubeconfig = filepath.Join(env.tempDir, "kubeconfig")
	if err := os.WriteFile(env.Kubeconfig, env.testEnv.KubeConfig, 0o600); err != nil {
		return nil, err
	}
	if err := waitEstablished(env.Config, env.IstioCRDs); err != nil {
		return nil, err
	}
	return env, nil
}

// waitEstablished waits until the apiserver reports every CRD Established: envtest itself only
// waits for discovery to list the resources.
func waitEstablished(cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) error {
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), crdReadyTimeout)
	defer cancel()
	for _, crd := range crds {
		var last string
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established {
					last = fmt.Sprintf("Established=%s: %s", cond.Status, cond.Message)
					return cond.Status == apiextensionsv1.ConditionTrue, nil
				}
			}
			last = "no Established condition yet"
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established within %s: %s", crd.Name, crdReadyTimeout, last)
		}
	}
	return nil
}

// Stop stops kube-apiserver and etcd and removes their data; it is safe to call more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		e.reaper.cancel()
		if e.testEnv != nil {
			e.stopErr = e.testEnv.Stop()
		}
		if err := os.RemoveAll(e.tempDir); err != nil && e.stopErr == nil {
			e.stopErr = err
		}
	})
	return e.stopErr
}

// tailBuffer keeps the last tailBytes bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 16 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailBytes; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
