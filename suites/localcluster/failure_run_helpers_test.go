//go:build localcluster

package localcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// The real mtls suite (the Ginkgo suite `make conformance` runs), run by the ginkgo CLI as a
// terminal would run it, in a process group of its own so that a Ctrl-C can be sent to the group.

// failingScenario is the test-only scenario of scenarios/testdata/failing, its Ginkgo label and
// the line the suite prints (world's propagation barrier) once its step is applied and in force.
const (
	failingScenario = "failing-on-purpose"
	failingStepLine = failingScenario + " / foo STRICT, no sidecar to enforce it: "
)

type suiteBinaries struct{ ginkgo, suite, root string }

var (
	binariesOnce sync.Once
	binaries     suiteBinaries
	binariesErr  error
)

// builtSuite compiles the ginkgo CLI and the mtls suite once for every test of the package.
func builtSuite(t *testing.T) suiteBinaries {
	t.Helper()
	binariesOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			binariesErr = err
			return
		}
		// One fixed folder, overwritten by each run: no hook runs after the package's last test
		// to remove it, so at most one copy (~110 MB) stays.
		dir := filepath.Join(os.TempDir(), "mtls-conformance-localcluster-suite")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			binariesErr = err
			return
		}
		binaries = suiteBinaries{ginkgo: filepath.Join(dir, "ginkgo"), suite: filepath.Join(dir, "mtls.test"), root: root}
		goBin := os.Getenv("GO")
		if goBin == "" {
			goBin = "go"
		}
		start := time.Now()
		for _, args := range [][]string{
			{"build", "-o", binaries.ginkgo, "github.com/onsi/ginkgo/v2/ginkgo"},
			{"test", "-c", "-tags", "e2e", "-o", binaries.suite, "./suites/mtls"},
		} {
			cmd := exec.Command(goBin, args...)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				binariesErr = &buildError{args: args, out: out, err: err}
				return
			}
		}
		t.Logf("built the ginkgo CLI and the mtls suite in %s", time.Since(start).Round(time.Second))
	})
	if binariesErr != nil {
		t.Fatal(binariesErr)
	}
	return binaries
}

type buildError struct {
	args []string
	out  []byte
	err  error
}

func (e *buildError) Error() string {
	return "go " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + string(e.out)
}

// suiteProcess is one run of the suite.
type suiteProcess struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startSuite runs `ginkgo -v --label-filter=<failing scenario> mtls.test -- flags` with the
// environment `make test-kind` set (INJECT=none, the local images...), flags overriding it.
func startSuite(t *testing.T, flags ...string) *suiteProcess {
	t.Helper()
	b := builtSuite(t)
	args := append([]string{"-v", "--no-color", "--label-filter=" + failingScenario, b.suite, "--",
		"--scenarios-dir=" + filepath.Join(b.root, "scenarios", "testdata", "failing")}, flags...)
	cmd := exec.Command(b.ginkgo, args...)
	cmd.Dir = b.root
	// Its own process group, as a shell job: the group is what a terminal's Ctrl-C signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &suiteProcess{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout = io.MultiWriter(os.Stdout, p.out)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default: // a failed test left it running: Ctrl-C, so it tears down, then kill what is left
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-p.done:
			case <-time.After(timeouts.Teardown):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
	})
	return p
}

// waitForLine waits until the suite has printed a line containing s (its progress), or fails.
func (p *suiteProcess) waitForLine(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("the suite ended (%v) before printing %q", p.err, s)
		case <-deadline:
			t.Fatalf("the suite did not print %q within %s", s, timeout)
		case <-tick.C:
		}
	}
}

// wait waits for the suite to end within timeout and returns how long that took.
func (p *suiteProcess) wait(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-p.done:
		return time.Since(start)
	case <-time.After(timeout):
		t.Fatalf("the suite did not end within %s", timeout)
		return 0
	}
}

// existingClusterFlags run the suite on this package's cluster as CLUSTER=existing.
func existingClusterFlags(reports string) []string {
	return []string{"--cluster=existing", "--kubeconfig=" + w.Kubeconfig, "--context=kind-" + cfg.ClusterName,
		"--load-images=false", "--kind-config-patch=", "--reports-dir=" + reports}
}

// restoreFixtures puts this package's fixtures back after a suite run on its cluster, which
// replaced them with its own and deleted those at the end; later tests probe them. Register it
// with t.Cleanup before startSuite, so that it runs once the suite has ended.
func restoreFixtures(t *testing.T) {
	t.Helper()
	ctx := ctxFor(t, timeouts.Setup)
	if err := w.Deployer.ApplyFixtures(ctx); err != nil {
		t.Fatal(err)
	}
	// No namespace is injected here (INJECT=none): no revision to wait for.
	if err := w.Deployer.WaitFixturesReady(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// plantedToken is a service-account-shaped JWT (header, claims, signature), fresh for each run.
type plantedToken struct{ jwt, claims, signature string }

func newPlantedToken(t *testing.T) plantedToken {
	t.Helper()
	random := make([]byte, 48)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	header := enc([]byte(`{"alg":"RS256","kid":"mtls-conformance-planted"}`))
	claims := enc([]byte(`{"aud":["https://kubernetes.default.svc.cluster.local"],"iss":"https://kubernetes.default.svc.cluster.local","sub":"system:serviceaccount:foo:httpbin","jti":"` + hex.EncodeToString(random[:8]) + `"}`))
	signature := enc(random[8:])
	return plantedToken{jwt: header + "." + claims + "." + signature, claims: claims, signature: signature}
}

// plant puts the token into both pods' logs of the failing probe while its step runs: the
// client (sleep.legacy) logs an Authorization header line, the server (httpbin.foo, go-httpbin
// logs every request's URI) a request whose path carries the token. It checks both logs hold it.
func (tok plantedToken) plant(t *testing.T) {
	t.Helper()
	// More than one probe's minute: on a loaded machine an exec alone can take that long, and the
	// failing probe's convergence timeout leaves room.
	ctx := ctxFor(t, 3*timeouts.Probe)
	_, kube, err := kubeexec.Clients(w.Config)
	if err != nil {
		t.Fatal(err)
	}
	client, server := onlyPod(t, kube, "legacy", "app=sleep"), onlyPod(t, kube, "foo", "app=httpbin")
	script := `echo "Authorization: Bearer ` + tok.jwt + `" > /proc/1/fd/1 && curl -sS -o /dev/null http://httpbin.foo:8000/anything/` + tok.jwt
	var stderr bytes.Buffer
	code, err := kubeexec.Run(ctx, w.Config, kube, "legacy", client, "sleep", []string{"sh", "-c", script}, io.Discard, &stderr)
	if err != nil || code != 0 {
		t.Fatalf("planting the token: exit %d, %v: %s", code, err, stderr.String())
	}
	for _, p := range []struct{ ns, pod, container string }{{"legacy", client, "sleep"}, {"foo", server, "httpbin"}} {
		log, err := kube.CoreV1().Pods(p.ns).GetLogs(p.pod, &corev1.PodLogOptions{Container: p.container}).DoRaw(ctx)
		if err != nil || !bytes.Contains(log, []byte(tok.jwt)) {
			t.Fatalf("the token is not in %s/%s's log (%v): the plant failed", p.ns, p.pod, err)
		}
	}
}

func onlyPod(t *testing.T, kube kubernetes.Interface, ns, selector string) string {
	t.Helper()
	pods, err := kube.CoreV1().Pods(ns).List(ctxFor(t, time.Minute), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods %s in %s: %v (%d)", selector, ns, err, len(pods.Items))
	}
	return pods.Items[0].Name
}

// leaks lists every file under dir holding the token or a part of it that identifies it.
func (tok plantedToken) leaks(t *testing.T, dir string) (files []string, count int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 { // reports/latest: the run folder again
			return err
		}
		count++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, part := range []string{tok.jwt, tok.claims, tok.signature} {
			if bytes.Contains(data, []byte(part)) {
				files = append(files, path)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, count
}

// runFolder is the run folder the suite wrote under reports.
func runFolder(t *testing.T, reports string) string {
	t.Helper()
	dir, err := report.Latest(reports)
	if err != nil {
		t.Fatalf("no run folder under %s: %v", reports, err)
	}
	return dir
}

func managedLeft(t *testing.T) []string {
	t.Helper()
	left, err := w.Deployer.ListManaged(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range left {
		out = append(out, o.String())
	}
	return out
}

// readJUnit reads the junit.xml of the run folder run.
func readJUnit(t *testing.T, run string) reporters.JUnitTestSuites {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(run, report.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var junit reporters.JUnitTestSuites
	if err := xml.Unmarshal(data, &junit); err != nil {
		t.Fatal(err)
	}
	return junit
}
