package world

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"istio.io/api/annotation"
	securityv1beta1 "istio.io/api/security/v1beta1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/ztunnel"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/istiocharts"
)

// TestAmbientOnAnExistingIstio: DATAPLANE=ambient on a cluster whose Istio the run did not
// install needs a ready ztunnel in istiod's namespace: without one, or with one not ready, setup
// stops at the istio step with one line naming what is missing, and creates nothing. With it the
// fixtures are deployed enrolled (foo and bar labelled istio.io/dataplane-mode=ambient, nothing
// asks for injection, no pod gets a sidecar), a step is in force without any sidecar to wait
// for, and teardown removes what the run made and leaves the user's ztunnel.
func TestAmbientOnAnExistingIstio(t *testing.T) {
	env, kube, s := ambientOnExistingIstio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	setup := func() (*World, error) {
		t.Helper()
		w := newWorld(t, s)
		return w, w.Setup(ctx)
	}

	_, err := setup()
	if err == nil || err.Error() != "istio: DATAPLANE=ambient: no ztunnel DaemonSet (app.kubernetes.io/name=ztunnel, or named ztunnel) in istio-system, the namespace of istiod: install the ambient data plane (Istio's cni and ztunnel charts, profile=ambient) or run with DATAPLANE=sidecar" {
		t.Fatalf("Setup without ztunnel: %v", err)
	}
	assertManaged(t, ctx, env, 0)

	// The chart's DaemonSet, as a user's install left it: not yet rolled out.
	zt := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ztunnel", Namespace: "istio-system", Labels: map[string]string{istio.NameLabel: "ztunnel"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ztunnel"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "ztunnel"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "docker.io/istio/ztunnel:1.31.1"}}},
			},
		},
	}
	if _, err := kube.AppsV1().DaemonSets("istio-system").Create(ctx, zt, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = setup()
	if err == nil || err.Error() != "istio: DATAPLANE=ambient: ztunnel DaemonSet istio-system/ztunnel is not ready (generation 1 not yet observed): the ambient data plane must run on every node before the run probes it" {
		t.Fatalf("Setup with ztunnel not ready: %v", err)
	}
	assertManaged(t, ctx, env, 0)

	markDaemonSetReady(t, kube, "istio-system", "ztunnel")
	// ztunnel is ready, but no node agent captures the enrolled pods: setup stops at the fixtures.
	_, err = setup()
	if err == nil || !strings.HasPrefix(err.Error(), "fixtures: DATAPLANE=ambient: the enrolled pods are not captured by ztunnel after 3s: pod ") || !strings.Contains(err.Error(), `has ambient.istio.io/redirection="", want "enabled"`) {
		t.Fatalf("Setup without istio-cni capturing the pods: %v", err)
	}
	stopCNI := standInCNI(t, kube)
	w, err := setup()
	if err != nil {
		t.Fatalf("Setup with a ready ztunnel: %v", err)
	}
	assertAmbientFixtures(t, ctx, kube)
	if w.Env.Topology != "documented ambient (foo, bar enrolled)" {
		t.Errorf("report topology %q", w.Env.Topology)
	}
	// No sidecar anywhere: the barrier reads ztunnel's configuration, here a stand-in built
	// from the apiserver's objects (no ztunnel runs on this tier), so a step is in force only
	// once its policy is stored and the pods' capture is what the step says.
	w.ztunnels = standInZtunnels{w: w, istio: istioClient(t, env)}
	if err := w.ApplyStep(ctx, catalogtest.Scenario(t, "namespace-strict"), 0); err != nil {
		t.Fatalf("ambient step: %v", err)
	}
	if err := w.ResetScenario(ctx, catalogtest.Scenario(t, "namespace-strict")); err != nil {
		t.Fatalf("ambient reset: %v", err)
	}
	// utilities-injection's second step enrols utilities: the label (its fixture's
	// istio-injection=disabled stays: no injection in ambient), no restart, and the step
	// waits until the node agent has captured the running curl pod; the reset takes it out again
	// and waits until the pod is released.
	curl := utilitiesPod(t, ctx, kube)
	injection := catalogtest.Scenario(t, "utilities-injection")
	for i := range injection.Steps {
		if err := w.ApplyStep(ctx, injection, i); err != nil {
			t.Fatalf("ambient utilities-injection step %d: %v", i, err)
		}
	}
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "utilities", metav1.GetOptions{})
	if err != nil || ns.Labels[fixtures.AmbientLabel] != fixtures.AmbientValue || ns.Labels[fixtures.InjectionLabel] != "disabled" {
		t.Fatalf("utilities after enrolment: labels %v, %v", ns.Labels, err)
	}
	if got := utilitiesPod(t, ctx, kube); got.UID != curl.UID || got.Annotations[annotation.AmbientRedirection.Name] != RedirectionEnabled {
		t.Errorf("curl after enrolment: pod %s (was %s), annotations %v: want the same pod, captured", got.UID, curl.UID, got.Annotations)
	}
	if err := w.ResetScenario(ctx, injection); err != nil {
		t.Fatalf("ambient utilities-injection reset: %v", err)
	}
	ns, err = kube.CoreV1().Namespaces().Get(ctx, "utilities", metav1.GetOptions{})
	if err != nil || ns.Labels[fixtures.AmbientLabel] != "" || ns.Labels[fixtures.InjectionLabel] != "disabled" {
		t.Fatalf("utilities after the reset: labels %v, %v", ns.Labels, err)
	}
	if got := utilitiesPod(t, ctx, kube); got.UID != curl.UID || got.Annotations[annotation.AmbientRedirection.Name] != "" {
		t.Errorf("curl after the reset: pod %s (was %s), annotations %v: want the same pod, released", got.UID, curl.UID, got.Annotations)
	}
	// Without a node agent to release the pod, taking utilities out of the mesh fails naming it.
	for i := range injection.Steps {
		if err := w.ApplyStep(ctx, injection, i); err != nil {
			t.Fatalf("ambient utilities-injection step %d again: %v", i, err)
		}
	}
	stopCNI()
	err = w.ResetScenario(ctx, injection)
	if err == nil || !strings.Contains(err.Error(), "DATAPLANE=ambient: pods of a namespace taken out of the mesh are still captured by ztunnel after 3s: pod utilities/"+curl.Name+` has ambient.istio.io/redirection="enabled"`) {
		t.Fatalf("reset without a node agent: %v", err)
	}
	if err := w.Teardown(2 * time.Minute); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	assertManaged(t, ctx, env, 0)
	if _, err := kube.AppsV1().DaemonSets("istio-system").Get(ctx, "ztunnel", metav1.GetOptions{}); err != nil {
		t.Fatalf("the user's ztunnel must survive: %v", err)
	}
}

// ambientOnExistingIstio is deploytest.StandInMesh and an ambient run's settings for it:
// an existing cluster, reports in a temporary folder, barriers that give up after 3s.
func ambientOnExistingIstio(t *testing.T) (*envtestenv.Env, kubernetes.Interface, settings.Settings) {
	t.Helper()
	env, kube := deploytest.StandInMesh(t)
	s := ambientSettings()
	s.ClusterMode, s.Kubeconfig = settings.ModeExisting, env.Kubeconfig
	s.ReportsDir = t.TempDir()
	s.Timeout = 3 * time.Second
	return env, kube, s
}

// TestAmbientInstall: with INSTALL_ISTIO on a cluster without Istio, DATAPLANE=ambient installs
// istiod with the ambient profile and then Istio's real cni and ztunnel charts (releases
// istio-cni and ztunnel), waits until their DaemonSets are ready, and deploys the fixtures
// enrolled; teardown uninstalls ztunnel and istio-cni, then istiod, and leaves nothing. No
// istiod or DaemonSet pod runs on this tier (no kubelet): the test installs the istiod chart
// without waiting for it to serve, and writes the DaemonSets' ready status as their controller
// would.
func TestAmbientInstall(t *testing.T) {
	env := envtestenv.Start(t)
	kube := env.Kube(t)
	deploytest.NamespaceFinalizer(t, kube)
	deploytest.StandInControllers(t, kube)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	standInDaemonSetController(t, kube, "istio-system")
	standInCNI(t, kube)

	s := ambientSettings()
	s.ClusterMode, s.Kubeconfig, s.InstallIstio = settings.ModeExisting, env.Kubeconfig, true
	s.IstioCharts, s.IstioTag = istiocharts.Dir(t), "1.31.1"
	s.ReportsDir = t.TempDir()
	s.Timeout = 3 * time.Second
	w := newWorld(t, s)
	// The Istio CRDs are there already (envtestenv applies them, as someone's kubectl would): the
	// base chart would have to adopt them, which a run does not ask for. istiod alone, unwaited.
	w.installIstio = func(ctx context.Context, in *istio.Installer) error {
		_, err := in.InstallIstiod(ctx)
		return err
	}
	if err := w.Setup(ctx); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	istiod, err := w.installer.Release("istiod")
	if err != nil {
		t.Fatal(err)
	}
	if istiod.Config["profile"] != istio.AmbientProfile {
		t.Errorf("istiod values %v, want profile=ambient", istiod.Config)
	}
	dep, err := kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if env := envOf(dep, "discovery", "PILOT_ENABLE_AMBIENT"); env != "true" {
		t.Errorf("istiod PILOT_ENABLE_AMBIENT=%q, want true (the ambient profile)", env)
	}
	for _, r := range []string{istio.CNIRelease, istio.ZtunnelRelease} {
		rel, err := w.installer.Release(r)
		if err != nil || rel.Info.Status != "deployed" || rel.Config["profile"] != istio.AmbientProfile {
			t.Errorf("release %s: %v", r, err)
		}
	}
	assertAmbientFixtures(t, ctx, kube)

	if err := w.Teardown(3 * time.Minute); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	assertManaged(t, ctx, env, 0)
	for _, name := range []string{istio.ZtunnelDaemonSet, istio.CNIDaemonSet} {
		if _, err := kube.AppsV1().DaemonSets("istio-system").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("DaemonSet %s after teardown: %v", name, err)
		}
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("istio-system, which the run created, after teardown: %v", err)
	}
}

// assertAmbientFixtures: foo and bar enrolled and asking for no injection, legacy and utilities
// not enrolled, no fixture pod with a sidecar.
func assertAmbientFixtures(t *testing.T, ctx context.Context, kube kubernetes.Interface) {
	t.Helper()
	for ns, enrolled := range map[string]bool{"foo": true, "bar": true, "legacy": false, "utilities": false} {
		got, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if (got.Labels[fixtures.AmbientLabel] == fixtures.AmbientValue) != enrolled || got.Labels[fixtures.InjectionLabel] == "enabled" {
			t.Errorf("namespace %s: labels %v (enrolled: %v)", ns, got.Labels, enrolled)
		}
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("pods in %s: %d, %v", ns, len(pods.Items), err)
		}
		for i := range pods.Items {
			if mesh.HasSidecar(&pods.Items[i]) {
				t.Errorf("pod %s/%s has a sidecar in ambient", ns, pods.Items[i].Name)
			}
		}
	}
}

func envOf(dep *appsv1.Deployment, container, name string) string {
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name != container {
			continue
		}
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

// markDaemonSetReady writes the status the DaemonSet controller writes once the DaemonSet's pods
// run, ready, on the cluster's one node.
func markDaemonSetReady(t *testing.T, kube kubernetes.Interface, namespace, name string) {
	t.Helper()
	if err := daemonSetReady(context.Background(), kube, namespace, name); err != nil {
		t.Fatal(err)
	}
}

func daemonSetReady(ctx context.Context, kube kubernetes.Interface, namespace, name string) error {
	ds, err := kube.AppsV1().DaemonSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	ds.Status.ObservedGeneration = ds.Generation
	ds.Status.DesiredNumberScheduled, ds.Status.CurrentNumberScheduled, ds.Status.UpdatedNumberScheduled = 1, 1, 1
	ds.Status.NumberReady, ds.Status.NumberAvailable = 1, 1
	_, err = kube.AppsV1().DaemonSets(namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{})
	return err
}

// standInDaemonSetController reports every DaemonSet of namespace ready once it exists, until the
// test ends, as the DaemonSet controller would on a one-node cluster whose pods start.
func standInDaemonSetController(t *testing.T, kube kubernetes.Interface, namespace string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			list, err := kube.AppsV1().DaemonSets(namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for i := range list.Items {
				if mesh.DaemonSetPending(&list.Items[i]) != "" {
					_ = daemonSetReady(ctx, kube, namespace, list.Items[i].Name)
				}
			}
			return false, nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// standInCNI does what the istio-cni node agent does once it has redirected a pod's traffic to
// its node's ztunnel, until the test ends or stop is called: it annotates every pod of a
// namespace labelled istio.io/dataplane-mode=ambient ambient.istio.io/redirection=enabled, and
// takes the annotation off a pod whose namespace is no longer labelled (istio
// cni/pkg/util/podutil.go AnnotateEnrolledPod, AnnotateUnenrollPod).
func standInCNI(t *testing.T, kube kubernetes.Interface) (stop func()) {
	enrol := []byte(`{"metadata":{"annotations":{"ambient.istio.io/redirection":"enabled"}}}`)
	release := []byte(`{"metadata":{"annotations":{"ambient.istio.io/redirection":null}}}`)
	return deploytest.StandIn(t, func(ctx context.Context) {
		nss, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return
		}
		for _, ns := range nss.Items {
			enrolled := ns.Labels[fixtures.AmbientLabel] == fixtures.AmbientValue
			pods, err := kube.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for _, p := range pods.Items {
				switch captured := p.Annotations["ambient.istio.io/redirection"] == RedirectionEnabled; {
				case enrolled && !captured:
					_, _ = kube.CoreV1().Pods(ns.Name).Patch(ctx, p.Name, types.MergePatchType, enrol, metav1.PatchOptions{})
				case !enrolled && captured:
					_, _ = kube.CoreV1().Pods(ns.Name).Patch(ctx, p.Name, types.MergePatchType, release, metav1.PatchOptions{})
				}
			}
		}
	})
}

// utilitiesPod is the running curl pod of utilities.
func utilitiesPod(t *testing.T, ctx context.Context, kube kubernetes.Interface) corev1.Pod {
	t.Helper()
	pods, err := kube.CoreV1().Pods("utilities").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods in utilities: %v, %v", pods, err)
	}
	return pods.Items[0]
}

// standInZtunnels is what a ztunnel would hold for the cluster's objects, read from the real
// apiserver (no istiod or ztunnel runs on this tier): captured pods HBONE, the others TCP, and
// each pod a STRICT PeerAuthentication covers referencing the static strict policy. It models
// STRICT policies without port-level modes only (the scenarios this test runs) and fails on
// any other.
type standInZtunnels struct {
	w     *World
	istio istioclient.Interface
}

func (s standInZtunnels) Pods(ctx context.Context) (map[fixtures.Ref]corev1.Pod, error) {
	return clusterZtunnels{s.w}.Pods(ctx)
}

func (s standInZtunnels) Dumps(ctx context.Context, nodes []string) (*ztunnel.NodeDumps, error) {
	byRef, err := s.Pods(ctx)
	if err != nil {
		return nil, err
	}
	pas, err := s.istio.SecurityV1().PeerAuthentications("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, pa := range pas.Items {
		if pa.Spec.GetMtls().GetMode() != securityv1beta1.PeerAuthentication_MutualTLS_STRICT || len(pa.Spec.PortLevelMtls) > 0 {
			return nil, fmt.Errorf("stand-in ztunnel: PeerAuthentication %s/%s is not a plain STRICT policy", pa.Namespace, pa.Name)
		}
	}
	strict := func(p corev1.Pod) bool {
		for _, pa := range pas.Items {
			sel := pa.Spec.GetSelector().GetMatchLabels()
			if (pa.Namespace == "istio-system" && len(sel) == 0) || (pa.Namespace == p.Namespace && matchesLabels(sel, p.Labels)) {
				return true
			}
		}
		return false
	}
	captured := func(p corev1.Pod) bool {
		return p.Annotations[annotation.AmbientRedirection.Name] == RedirectionEnabled
	}
	var pods []corev1.Pod
	for _, p := range byRef {
		pods = append(pods, p)
	}
	// istiod gives every Service of a namespace labelled istio.io/use-waypoint the waypoint.
	kube, err := kubernetes.NewForConfig(s.w.Config)
	if err != nil {
		return nil, err
	}
	nss, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: deploy.UseWaypointLabel})
	if err != nil {
		return nil, err
	}
	out := &ztunnel.NodeDumps{ByNode: map[string]*ztunnel.Dump{}, Pods: []string{"stand-in.istio-system"}}
	for _, n := range nodes {
		d := standInDump(s.w.Topology, pods, captured, strict)
		for _, ns := range nss.Items {
			d = withWaypoint(d, ns.Name, scenarios.WaypointName)
		}
		out.ByNode[n] = d
	}
	return out, nil
}

func istioClient(t *testing.T, env *envtestenv.Env) istioclient.Interface {
	t.Helper()
	ic, err := istioclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return ic
}
