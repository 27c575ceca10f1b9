package world

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
)

// TestWorldOnAnExistingCluster drives the world against a real kube-apiserver as a user's
// existing cluster: without Istio it stops at the istio step and creates nothing; with an
// (stand-in) istiod it deploys the fixtures, moves through the utilities-injection scenario,
// resets it, and tears down to zero managed objects while what it did not create survives.
func TestWorldOnAnExistingCluster(t *testing.T) {
	env := envtestenv.Start(t)
	kube := env.Kube(t)
	ic, err := istioclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	deploytest.NamespaceFinalizer(t, kube)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	s := settings.Defaults()
	s.ClusterMode, s.Kubeconfig = settings.ModeExisting, env.Kubeconfig
	s.ReportsDir = t.TempDir()
	// No kubelet: no sidecar's configuration can be read, so every propagation barrier gives up.
	s.Timeout = 3 * time.Second

	// 1. No istiod: a clear error at the istio step, nothing created.
	w := newWorld(t, s)
	if err := w.Setup(ctx); err == nil || !strings.HasPrefix(err.Error(), "istio: ") || !strings.Contains(err.Error(), "--install-istio") {
		t.Fatalf("Setup without Istio: %v", err)
	}
	res, err := w.run.Results()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Header.InfrastructureFailures) != 1 || res.Header.InfrastructureFailures[0].Step != StepIstio {
		t.Fatalf("infrastructure failures = %+v, want the istio step", res.Header.InfrastructureFailures)
	}
	assertManaged(t, ctx, env, 0)

	// 2. A user's own objects, and an istiod as the chart labels it (app=istiod), Available.
	for _, ns := range []string{"team-a"} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	theirs := &securityv1.PeerAuthentication{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a"}}
	theirs.Spec.Mtls = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_STRICT}
	if _, err := ic.SecurityV1().PeerAuthentications("team-a").Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deploytest.StandInIstiod(t, kube, "1.31.1")
	deploytest.StandInControllers(t, kube)

	// 3. A trust domain other than the mesh's: refused before anything is created.
	other := s
	other.TrustDomain = "example.org"
	w = newWorld(t, other)
	if err := w.Setup(ctx); err == nil || !strings.Contains(err.Error(), `the mesh's trust domain is "cluster.local"`) {
		t.Fatalf("Setup with trust domain example.org: %v", err)
	}
	assertManaged(t, ctx, env, 0)

	w = newWorld(t, s)
	if err := w.Setup(ctx); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if w.Env.IstioVersion != "1.31.1" || w.Created || w.MeshWideAllowed() == nil {
		t.Fatalf("env %+v created=%v: an existing cluster with Istio 1.31.1, mesh-wide not allowed", w.Env, w.Created)
	}
	s2 := s
	s2.AllowMeshWide = true
	if (&World{Settings: s2}).MeshWideAllowed() != nil {
		t.Fatal("--allow-mesh-wide must allow mesh-wide scenarios")
	}

	catalog := catalogtest.Catalog(t)
	var flip *scenarios.Scenario
	for _, sc := range catalog {
		if sc.Name == "utilities-injection" {
			flip = sc
		}
	}
	for i := range flip.Steps {
		if err := w.ApplyStep(ctx, flip, i); !unreadableSidecars(err) {
			t.Fatalf("step %d: %v (want the changes made and the barrier unable to read any sidecar)", i, err)
		}
	}
	if !hasSidecar(t, ctx, kube, "utilities") {
		t.Fatal("after the injection flip the curl pod must have a sidecar")
	}
	if _, err := ic.SecurityV1().PeerAuthentications("foo").Get(ctx, "httpbin-strict-tls", metav1.GetOptions{}); err != nil {
		t.Fatalf("the scenario's policy: %v", err)
	}

	if err := w.ResetScenario(ctx, flip); !unreadableSidecars(err) {
		t.Fatalf("reset: %v", err)
	}
	// Each step and the reset have their propagation recorded, as not in force.
	res, err = w.run.Results()
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, p := range res.Propagation {
		if p.InForce || p.Message == "" {
			t.Errorf("%s: in force without a readable sidecar: %+v", p.Step, p)
		}
		steps = append(steps, p.Step)
	}
	if got, want := strings.Join(steps, ", "), flip.Steps[0].Name+", "+flip.Steps[1].Name+", "+report.ResetStep; got != want {
		t.Errorf("propagation recorded for %s, want %s", got, want)
	}
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "utilities", metav1.GetOptions{})
	if err != nil || ns.Labels[fixtures.InjectionLabel] != "disabled" {
		t.Fatalf("utilities after reset: labels %v, %v", ns.Labels, err)
	}
	if hasSidecar(t, ctx, kube, "utilities") {
		t.Fatal("after reset the curl pod must be back without a sidecar")
	}
	if pas, _ := ic.SecurityV1().PeerAuthentications("foo").List(ctx, metav1.ListOptions{}); len(pas.Items) != 0 {
		t.Fatalf("the scenario left %d PeerAuthentications in foo", len(pas.Items))
	}

	if err := w.Teardown(2 * time.Minute); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	assertManaged(t, ctx, env, 0)
	if _, err := ic.SecurityV1().PeerAuthentications("team-a").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("the user's PeerAuthentication must survive: %v", err)
	}
	if _, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{}); err != nil {
		t.Fatalf("the user's istiod must survive: %v", err)
	}
}

// unreadableSidecars: the barrier gave up because no sidecar could be read (an infrastructure
// failure, not a verdict on the mesh's configuration).
func unreadableSidecars(err error) bool {
	var pe *authcheck.PropagationError
	return errors.As(err, &pe) && pe.Unreadable()
}

func assertManaged(t *testing.T, ctx context.Context, env *envtestenv.Env, want int) {
	t.Helper()
	d, err := deploy.New(env.Config, "check")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := d.ListManaged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != want {
		t.Fatalf("%d managed objects, want %d: %v", len(objs), want, objs)
	}
}

func hasSidecar(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns string) bool {
	t.Helper()
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods in %s: %d, %v", ns, len(pods.Items), err)
	}
	return mesh.HasSidecar(&pods.Items[0])
}

// newWorld is a World for settings s with a run folder in s.ReportsDir; either failing fails the test.
func newWorld(t *testing.T, s settings.Settings) *World {
	t.Helper()
	run, err := report.NewRun(s.ReportsDir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(s, run, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
