package deploy

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	securityapi "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
)

func TestMain(m *testing.M) { os.Exit(envtestenv.Main(m)) }

// world is one test's view of the shared real apiserver.
type world struct {
	kube  kubernetes.Interface
	istio istioclient.Interface
	d     *Deployer
}

// withFixtures is newWorld with the fixtures applied, and the context to go on with.
func withFixtures(t *testing.T, runID string) (*world, context.Context) {
	t.Helper()
	w := newWorld(t, runID)
	ctx := context.Background()
	if err := w.d.ApplyFixtures(ctx); err != nil {
		t.Fatal(err)
	}
	return w, ctx
}

func newWorld(t *testing.T, runID string) *world {
	t.Helper()
	env := envtestenv.Shared(t)
	kube, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := istioclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(env.Config, runID)
	if err != nil {
		t.Fatal(err)
	}
	d.PollInterval = 200 * time.Millisecond
	d.ReadyTimeout = 20 * time.Second
	d.DeleteTimeout = 60 * time.Second
	deploytest.NamespaceFinalizer(t, kube)
	w := &world{kube: kube, istio: ic, d: d}
	// Every test leaves the shared apiserver without managed objects, whatever happened.
	t.Cleanup(func() {
		if err := d.Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return w
}

// deleteNamespace deletes a namespace the test created and waits until it is gone, so the next
// test starts from the same apiserver state.
func (w *world) deleteNamespace(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if err := w.kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting namespace %s: %v", name, err)
		return
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := w.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("namespace %s not gone after 30s", name)
	}
}

func (w *world) managed(t *testing.T) []ManagedObject {
	t.Helper()
	objs, err := w.d.ListManaged(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// rollout stands in for the controllers and Istio's injector: foo and bar (istio-injection=
// enabled) get sidecars, legacy and utilities do not.
func (w *world) rollout(t *testing.T, sidecarFor func(ns string) deploytest.Sidecar) {
	t.Helper()
	topo, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, wl := range slices.Concat(topo.Servers, topo.Clients) {
		if err := deploytest.Rollout(context.Background(), w.kube, wl.Namespace, wl.Name, sidecarFor(wl.Namespace)); err != nil {
			t.Fatal(err)
		}
	}
}

func byTopology(ns string) deploytest.Sidecar {
	topo, _ := fixtures.Load()
	if n, ok := topo.Namespace(ns); ok && n.Injected() {
		return deploytest.ContainerSidecar
	}
	return deploytest.NoSidecar
}

// byTopologyBut is byTopology except in namespace, whose pods get sidecar.
func byTopologyBut(namespace string, sidecar deploytest.Sidecar) func(string) deploytest.Sidecar {
	return func(ns string) deploytest.Sidecar {
		if ns == namespace {
			return sidecar
		}
		return byTopology(ns)
	}
}

// TestFixturesApplyAndBecomeReady: every fixture object applies with server-side apply, carries
// both labels, and the readiness code finds every workload once its status says ready.
func TestFixturesApplyAndBecomeReady(t *testing.T) {
	w, ctx := withFixtures(t, "run-fixtures")
	objs, err := fixtures.Objects()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		var labels map[string]string
		var err error
		switch o.GetKind() {
		case "Namespace":
			var got *corev1.Namespace
			got, err = w.kube.CoreV1().Namespaces().Get(ctx, o.GetName(), metav1.GetOptions{})
			if err == nil {
				labels = got.Labels
				if want := o.GetLabels()[mesh.InjectionLabel]; got.Labels[mesh.InjectionLabel] != want {
					t.Errorf("namespace %s %s=%q, want %q", got.Name, mesh.InjectionLabel, got.Labels[mesh.InjectionLabel], want)
				}
			}
		case "ServiceAccount":
			var got *corev1.ServiceAccount
			got, err = w.kube.CoreV1().ServiceAccounts(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err == nil {
				labels = got.Labels
			}
		case "Service":
			var got *corev1.Service
			got, err = w.kube.CoreV1().Services(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err == nil {
				labels = got.Labels
			}
		case "Deployment":
			got, gerr := w.kube.AppsV1().Deployments(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			err = gerr
			if err == nil {
				labels = got.Labels
				if got.Spec.Template.Labels[mesh.ManagedByLabel] != mesh.ManagedByValue {
					t.Errorf("Deployment %s/%s pod template not labelled", got.Namespace, got.Name)
				}
			}
		default:
			t.Fatalf("fixture kind %s not covered by this test", o.GetKind())
		}
		if err != nil {
			t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
			continue
		}
		if labels[mesh.ManagedByLabel] != mesh.ManagedByValue || labels[mesh.RunIDLabel] != "run-fixtures" {
			t.Errorf("%s %s/%s labels %v", o.GetKind(), o.GetNamespace(), o.GetName(), labels)
		}
	}
	if got := len(w.managed(t)); got != len(objs) {
		t.Errorf("%d managed objects after apply, want the %d fixture objects", got, len(objs))
	}
	// Applying again is idempotent (server-side apply) and keeps the count.
	if err := w.d.ApplyFixtures(ctx); err != nil {
		t.Fatalf("second apply: %v", err)
	}

	// Before any pod exists, readiness waits and then names what it waited for.
	w.d.ReadyTimeout = 2 * time.Second
	err = w.d.WaitFixturesReady(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "httpbin.foo: ") || !strings.Contains(err.Error(), "not ready within 2s") {
		t.Errorf("readiness before rollout: %v", err)
	}
	w.d.ReadyTimeout = 20 * time.Second

	w.rollout(t, byTopology)
	if err := w.d.WaitFixturesReady(ctx, nil); err != nil {
		t.Fatalf("readiness after rollout: %v", err)
	}
	// Pods come from the labelled template, so they are managed objects too.
	var pods int
	for _, m := range w.managed(t) {
		if m.Resource == "pods" {
			pods++
		}
	}
	if pods != 7 { // httpbin and sleep in foo, bar, legacy; curl in utilities
		t.Errorf("%d managed pods, want 7", pods)
	}
}

// TestSidecarMismatchIsSetupFailure: a Ready pod without the sidecar its namespace asks for (or
// with one it does not ask for) fails readiness at once, not after the timeout.
func TestSidecarMismatchIsSetupFailure(t *testing.T) {
	w, ctx := withFixtures(t, "run-sidecar")
	w.d.ReadyTimeout = time.Minute
	for _, tc := range []struct {
		name    string
		sidecar func(string) deploytest.Sidecar
		want    string
	}{
		{"missing in foo", byTopologyBut("foo", deploytest.NoSidecar),
			"has no istio-proxy container although namespace foo asks for injection (istio-injection=enabled)"},
		{"extra in legacy", byTopologyBut("legacy", deploytest.ContainerSidecar),
			"has an istio-proxy container although namespace legacy does not ask for injection (no injection label)"},
	} {
		w.rollout(t, tc.sidecar)
		start := time.Now()
		err := w.d.WaitFixturesReady(ctx, nil)
		var se *SetupError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a SetupError containing %q", tc.name, err, tc.want)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("%s: setup failure took %s to report", tc.name, time.Since(start))
		}
	}
	// Native sidecars (an istio-proxy init container with restartPolicy Always) count.
	w.rollout(t, func(ns string) deploytest.Sidecar {
		if byTopology(ns) == deploytest.ContainerSidecar {
			return deploytest.NativeSidecar
		}
		return deploytest.NoSidecar
	})
	if err := w.d.WaitFixturesReady(ctx, nil); err != nil {
		t.Errorf("native sidecars: %v", err)
	}
}

// TestRestartAfterInjectionFlip: utilities is flipped to istio-injection=enabled and curl is
// restarted; readiness waits for the new pods and then wants their sidecar.
func TestRestartAfterInjectionFlip(t *testing.T) {
	w, ctx := withFixtures(t, "run-restart")
	w.rollout(t, byTopology)
	if err := w.d.SetInjection(ctx, "utilities", "enabled"); err != nil {
		t.Fatal(err)
	}
	curl := fixtures.Ref{Name: "curl", Namespace: "utilities"}

	restart := func(sidecar deploytest.Sidecar) error {
		before, err := w.kube.AppsV1().Deployments("utilities").Get(ctx, "curl", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- w.d.Restart(ctx, curl, nil) }()
		// Act as the Deployment controller once the template has changed.
		deadline := time.Now().Add(10 * time.Second)
		for {
			dep, err := w.kube.AppsV1().Deployments("utilities").Get(ctx, "curl", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if dep.Generation > before.Generation {
				if dep.Spec.Template.Annotations[RestartedAtAnnotation] == "" {
					t.Fatalf("restart did not stamp %s", RestartedAtAnnotation)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Restart did not change the pod template")
			}
			select {
			case err := <-errc:
				t.Fatalf("Restart returned before the rollout: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err := deploytest.Rollout(ctx, w.kube, "utilities", "curl", sidecar); err != nil {
			t.Fatal(err)
		}
		return <-errc
	}
	if err := restart(deploytest.ContainerSidecar); err != nil {
		t.Errorf("restart with sidecar after flip: %v", err)
	}
	var se *SetupError
	if err := restart(deploytest.NoSidecar); !errors.As(err, &se) || !strings.Contains(err.Error(), "namespace utilities asks for injection (istio-injection=enabled)") {
		t.Errorf("restart without sidecar after flip: %v", err)
	}
	if err := w.d.SetInjection(ctx, "utilities", "none"); err != nil {
		t.Fatal(err)
	}
	ns, _ := w.kube.CoreV1().Namespaces().Get(ctx, "utilities", metav1.GetOptions{})
	if _, ok := ns.Labels[mesh.InjectionLabel]; ok {
		t.Errorf("injection none left %s=%s", mesh.InjectionLabel, ns.Labels[mesh.InjectionLabel])
	}
}

func istioSystem(t *testing.T, w *world) {
	t.Helper()
	_, err := w.kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestEveryCatalogPolicyApplies applies every step of every catalog scenario to the real
// apiserver, whose Istio CRDs carry Istio's validation rules, and checks creation order.
func TestEveryCatalogPolicyApplies(t *testing.T) {
	w, ctx := withFixtures(t, "run-catalog")
	istioSystem(t, w)
	catalog, err := scenarios.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, sc := range catalog {
		// order is the scenario's objects in force, oldest first: a re-applied object is updated
		// in place and keeps its age.
		var order []policy.Object
		for i, step := range sc.Steps {
			if err := w.d.DeleteObjects(ctx, step.Delete); err != nil {
				t.Fatalf("%s step %d: %v", sc.Name, i, err)
			}
			order = slices.DeleteFunc(order, func(o policy.Object) bool { return slices.Contains(step.Delete, o.Key()) })
			if err := w.d.ApplyObjects(ctx, step.Apply); err != nil {
				t.Fatalf("%s step %d: %v", sc.Name, i, err)
			}
			applied += len(step.Apply)
			for _, o := range step.Apply {
				if !slices.ContainsFunc(order, func(p policy.Object) bool { return p.Key() == o.Key() }) {
					order = append(order, o)
				}
			}
			var prev time.Time
			for _, o := range order {
				created := w.creation(t, o)
				if !created.After(prev) {
					t.Errorf("%s step %d: %s created %s, not after the previous object (%s)", sc.Name, i, o.Key(), created, prev)
				}
				prev = created
			}
		}
		var keys []string
		for _, o := range order {
			keys = append(keys, o.Key())
		}
		if err := w.d.DeleteObjects(ctx, keys); err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
	}
	if applied == 0 {
		t.Fatal("the catalog applied no objects")
	}
	t.Logf("applied %d objects from %d scenarios", applied, len(catalog))
}

func (w *world) creation(t *testing.T, o policy.Object) time.Time {
	t.Helper()
	m := o.Meta()
	var got metav1.Object
	var err error
	if o.PeerAuthentication != nil {
		got, err = w.istio.SecurityV1().PeerAuthentications(m.Namespace).Get(context.Background(), m.Name, metav1.GetOptions{})
	} else {
		got, err = w.istio.NetworkingV1().DestinationRules(m.Namespace).Get(context.Background(), m.Name, metav1.GetOptions{})
	}
	if err != nil {
		t.Fatalf("%s: %v", o.Key(), err)
	}
	if got.GetLabels()[mesh.ManagedByLabel] != mesh.ManagedByValue || got.GetLabels()[mesh.RunIDLabel] != w.d.RunID() {
		t.Errorf("%s labels %v", o.Key(), got.GetLabels())
	}
	return got.GetCreationTimestamp().Time
}

func pa(ns, name string, mode securityapi.PeerAuthentication_MutualTLS_Mode) policy.Object {
	obj := &securityv1.PeerAuthentication{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	obj.Spec.Mtls = &securityapi.PeerAuthentication_MutualTLS{Mode: mode}
	return policy.Object{PeerAuthentication: obj}
}

// seeds are objects the suite did not create; cleanup must leave every one of them alone.
type seed struct {
	kind, ns, name string
	uid            types.UID
}

func plant(t *testing.T, w *world) []seed {
	t.Helper()
	ctx := context.Background()
	istioSystem(t, w)
	var seeds []seed
	for _, ns := range []string{"team-a", "team-b"} {
		got, err := w.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"istio-injection": "enabled"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, seed{"Namespace", "", ns, got.UID})
		cm, err := w.kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings",
			// Another tool's managed-by value is not ours.
			Labels: map[string]string{mesh.ManagedByLabel: "Helm"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, seed{"ConfigMap", ns, "settings", cm.UID})
	}
	for _, p := range []policy.Object{
		pa("team-a", "default", securityapi.PeerAuthentication_MutualTLS_STRICT),
		pa("istio-system", "mesh-owner", securityapi.PeerAuthentication_MutualTLS_PERMISSIVE),
	} {
		got, err := w.istio.SecurityV1().PeerAuthentications(p.Meta().Namespace).Create(ctx, p.PeerAuthentication, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, seed{"PeerAuthentication", got.Namespace, got.Name, got.UID})
	}
	t.Cleanup(func() {
		// The seeds belong to the test, not to the suite: remove them for the next test.
		ctx := context.Background()
		_ = w.istio.SecurityV1().PeerAuthentications("istio-system").Delete(ctx, "mesh-owner", metav1.DeleteOptions{})
		for _, ns := range []string{"team-a", "team-b"} {
			_ = w.istio.SecurityV1().PeerAuthentications(ns).Delete(ctx, "default", metav1.DeleteOptions{})
			_ = w.kube.CoreV1().ConfigMaps(ns).Delete(ctx, "settings", metav1.DeleteOptions{})
			w.deleteNamespace(t, ns)
		}
	})
	return seeds
}

func (w *world) checkSeeds(t *testing.T, seeds []seed) {
	t.Helper()
	ctx := context.Background()
	for _, s := range seeds {
		var got metav1.Object
		var err error
		switch s.kind {
		case "Namespace":
			got, err = w.kube.CoreV1().Namespaces().Get(ctx, s.name, metav1.GetOptions{})
		case "ConfigMap":
			got, err = w.kube.CoreV1().ConfigMaps(s.ns).Get(ctx, s.name, metav1.GetOptions{})
		case "PeerAuthentication":
			got, err = w.istio.SecurityV1().PeerAuthentications(s.ns).Get(ctx, s.name, metav1.GetOptions{})
		}
		if err != nil {
			t.Errorf("seed %s %s/%s: %v", s.kind, s.ns, s.name, err)
			continue
		}
		if got.GetUID() != s.uid || got.GetDeletionTimestamp() != nil {
			t.Errorf("seed %s %s/%s was replaced or is being deleted", s.kind, s.ns, s.name)
		}
	}
}

func (w *world) cleanupToZero(t *testing.T, what string) {
	t.Helper()
	before := len(w.managed(t))
	if before == 0 {
		t.Fatalf("%s: nothing managed before cleanup; the test did not set anything up", what)
	}
	if err := w.d.Cleanup(context.Background()); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if left := w.managed(t); len(left) != 0 {
		t.Errorf("%s: %d managed objects left (of %d): %s", what, len(left), before, summarize(left))
	}
	t.Logf("%s: cleanup removed %d managed objects", what, before)
}

// TestCleanupLeavesZero runs the three ways a run ends — pass, failure, interruption — and counts
// the suite's objects after cleanup (zero) and the seeded foreign objects (all still there).
func TestCleanupLeavesZero(t *testing.T) {
	w := newWorld(t, "run-cleanup")
	seeds := plant(t, w)
	ctx := context.Background()
	strict := []policy.Object{
		pa("foo", "default", securityapi.PeerAuthentication_MutualTLS_STRICT),
		pa("bar", "default", securityapi.PeerAuthentication_MutualTLS_PERMISSIVE),
		pa("istio-system", "default", securityapi.PeerAuthentication_MutualTLS_STRICT),
	}

	t.Run("pass", func(t *testing.T) {
		if err := w.d.ApplyFixtures(ctx); err != nil {
			t.Fatal(err)
		}
		w.rollout(t, byTopology)
		if err := w.d.WaitFixturesReady(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.d.ApplyObjects(ctx, strict); err != nil {
			t.Fatal(err)
		}
		w.cleanupToZero(t, "after a pass")
		w.checkSeeds(t, seeds)
	})

	t.Run("failure", func(t *testing.T) {
		if err := w.d.ApplyFixtures(ctx); err != nil {
			t.Fatal(err)
		}
		// Half the workloads roll out, the rest never do: readiness fails.
		if err := deploytest.Rollout(ctx, w.kube, "foo", "httpbin", deploytest.ContainerSidecar); err != nil {
			t.Fatal(err)
		}
		w.d.ReadyTimeout = time.Second
		if err := w.d.WaitFixturesReady(ctx, nil); err == nil {
			t.Fatal("readiness passed with workloads missing")
		}
		w.d.ReadyTimeout = 20 * time.Second
		if err := w.d.ApplyObjects(ctx, strict[:1]); err != nil {
			t.Fatal(err)
		}
		w.cleanupToZero(t, "after a failure")
		w.checkSeeds(t, seeds)
	})

	t.Run("interrupted", func(t *testing.T) {
		if err := w.d.ApplyFixtures(ctx); err != nil {
			t.Fatal(err)
		}
		// Ctrl-C while policies are being applied: cancel once the first one exists.
		runCtx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- w.d.ApplyObjects(runCtx, strict) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := w.istio.SecurityV1().PeerAuthentications("foo").Get(ctx, "default", metav1.GetOptions{}); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("first policy never appeared")
			}
			select {
			case err := <-errc:
				t.Fatalf("ApplyObjects finished before the interruption: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted ApplyObjects: err = %v, want context.Canceled", err)
		}
		if _, err := w.istio.SecurityV1().PeerAuthentications("istio-system").Get(ctx, "default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the interruption came too late to test anything: istio-system/default exists (%v)", err)
		}
		w.cleanupToZero(t, "after an interruption")
		w.checkSeeds(t, seeds)
	})
}

// TestRefusesForeignNamespace: a fixture namespace that exists without the suite's label is
// somebody else's; nothing is applied.
func TestRefusesForeignNamespace(t *testing.T) {
	w := newWorld(t, "run-foreign")
	ctx := context.Background()
	if _, err := w.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bar"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.deleteNamespace(t, "bar") })
	err := w.d.ApplyFixtures(ctx)
	want := "deploy: namespace bar already exists and is not managed by mtls-conformance (no label app.kubernetes.io/managed-by=mtls-conformance); the suite will not touch it: run on a cluster without it"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v", err)
	}
	if n := len(w.managed(t)); n != 0 {
		t.Errorf("%d managed objects created although the apply was refused", n)
	}
	if err := w.d.SetInjection(ctx, "bar", "enabled"); err == nil || !strings.Contains(err.Error(), "is not managed by mtls-conformance") {
		t.Errorf("SetInjection on a foreign namespace: %v", err)
	}
	// A foreign policy with the name a scenario uses is neither changed nor deleted.
	if _, err := w.istio.SecurityV1().PeerAuthentications("bar").Create(ctx, pa("bar", "default", securityapi.PeerAuthentication_MutualTLS_STRICT).PeerAuthentication, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.d.ApplyObjects(ctx, []policy.Object{pa("bar", "default", securityapi.PeerAuthentication_MutualTLS_DISABLE)}); err == nil || err.Error() != "deploy: applying PeerAuthentication bar/default: it exists and is not managed by mtls-conformance; not changing it" {
		t.Errorf("ApplyObjects over a foreign policy: %v", err)
	}
	if err := w.d.DeleteObjects(ctx, []string{"PeerAuthentication bar/default"}); err == nil || !strings.Contains(err.Error(), "is not managed by mtls-conformance; not deleting it") {
		t.Errorf("DeleteObjects of a foreign policy: %v", err)
	}
	got, err := w.istio.SecurityV1().PeerAuthentications("bar").Get(ctx, "default", metav1.GetOptions{})
	if err != nil || got.Spec.GetMtls().GetMode() != securityapi.PeerAuthentication_MutualTLS_STRICT {
		t.Errorf("foreign policy changed: %v %v", got, err)
	}
	_ = w.istio.SecurityV1().PeerAuthentications("bar").Delete(ctx, "default", metav1.DeleteOptions{})
}
