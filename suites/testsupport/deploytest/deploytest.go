// Package deploytest stands in, in tests against a bare kube-apiserver (envtest), for the
// Kubernetes controllers such a cluster lacks: the namespace controller that finishes namespace
// deletion, and the Deployment/ReplicaSet controllers, scheduler and kubelet that turn a
// Deployment into Ready pods. Each stand-in does only the last step of the real component, so the
// code under test meets the API objects it would meet on a real cluster.
package deploytest

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
)

// NamespaceFinalizer finishes the deletion of empty Terminating namespaces, as the namespace
// controller of kube-controller-manager does once a namespace's contents are gone
// (k8s.io/kubernetes pkg/controller/namespace/deletion: it deletes the contents, then calls the
// finalize subresource to drop the "kubernetes" finalizer). It deliberately does not delete
// contents itself: a namespace the code under test left objects in stays Terminating, and the
// test sees it.
func NamespaceFinalizer(t testing.TB, cs kubernetes.Interface) {
	t.Helper()
	StandIn(t, func(ctx context.Context) {
		list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return
		}
		for i := range list.Items {
			ns := &list.Items[i]
			if ns.DeletionTimestamp == nil || len(ns.Spec.Finalizers) == 0 || !empty(ctx, cs, ns.Name) {
				continue
			}
			ns.Spec.Finalizers = nil
			_, _ = cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
		}
	})
}

// StandIn runs round every 200 ms in the background, as a controller's reconcile loop would,
// until stop is called or the test ends; stop (the test's cleanup calls it) waits for the round
// in progress.
func StandIn(t testing.TB, round func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			round(ctx)
			return false, nil
		})
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// empty reports whether the namespace holds none of the namespaced objects a test creates.
func empty(ctx context.Context, cs kubernetes.Interface, ns string) bool {
	for _, list := range []func(context.Context, metav1.ListOptions) (runtime.Object, error){
		listOf(cs.CoreV1().Pods(ns).List),
		listOf(cs.CoreV1().Services(ns).List),
		listOf(cs.CoreV1().ServiceAccounts(ns).List),
		listOf(cs.CoreV1().ConfigMaps(ns).List),
		listOf(cs.AppsV1().Deployments(ns).List),
		listOf(cs.AppsV1().ReplicaSets(ns).List),
	} {
		if l, err := list(ctx, metav1.ListOptions{Limit: 1}); err != nil || meta.LenList(l) > 0 {
			return false
		}
	}
	return true
}

// listOf is a typed client's List as one returning a runtime.Object, for meta.LenList.
func listOf[L runtime.Object](list func(context.Context, metav1.ListOptions) (L, error)) func(context.Context, metav1.ListOptions) (runtime.Object, error) {
	return func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) { return list(ctx, opts) }
}

// Sidecar says what the stand-in for Istio's injector puts into a pod.
type Sidecar int

const (
	// NoSidecar: the pod is created as its template says.
	NoSidecar Sidecar = iota
	// ContainerSidecar: an istio-proxy container, as injection-template.yaml renders without
	// native sidecars.
	ContainerSidecar
	// NativeSidecar: an istio-proxy init container with restartPolicy Always.
	NativeSidecar
)

// Rollout does for one Deployment what the Deployment and ReplicaSet controllers, the scheduler
// and the kubelet would: it replaces the Deployment's pods with spec.replicas pods of its current
// template (labels and annotations included), optionally injected, marks them Ready, and
// reports the rollout complete in the Deployment's status.
func Rollout(ctx context.Context, cs kubernetes.Interface, namespace, name string, sidecar Sidecar) error {
	dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return err
	}
	old, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return err
	}
	for _, p := range old.Items {
		// Unscheduled pods are deleted at once (no kubelet has to confirm).
		if err := cs.CoreV1().Pods(namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	replicas := int32(1)
	if dep.Spec.Replicas != nil {
		replicas = *dep.Spec.Replicas
	}
	for i := range replicas {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("%s-g%d-%d", name, dep.Generation, i),
				Namespace:   namespace,
				Labels:      dep.Spec.Template.Labels,
				Annotations: dep.Spec.Template.Annotations,
			},
			Spec: *dep.Spec.Template.Spec.DeepCopy(),
		}
		proxy := corev1.Container{Name: mesh.SidecarContainer, Image: "docker.io/istio/proxyv2:1.31.1"}
		switch sidecar {
		case ContainerSidecar:
			pod.Spec.Containers = append(pod.Spec.Containers, proxy)
		case NativeSidecar:
			always := corev1.ContainerRestartPolicyAlways
			proxy.RestartPolicy = &always
			pod.Spec.InitContainers = append([]corev1.Container{proxy}, pod.Spec.InitContainers...)
		}
		created, err := cs.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating pod for %s/%s: %w", namespace, name, err)
		}
		now := metav1.Now()
		created.Status.Phase = corev1.PodRunning
		created.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if _, err := cs.CoreV1().Pods(namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("marking pod %s Ready: %w", created.Name, err)
		}
	}
	return CompleteRollout(ctx, cs, namespace, name)
}

// CompleteRollout writes the status the Deployment controller writes when a rollout is done.
func CompleteRollout(ctx context.Context, cs kubernetes.Interface, namespace, name string) error {
	dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	replicas := int32(1)
	if dep.Spec.Replicas != nil {
		replicas = *dep.Spec.Replicas
	}
	SetRolloutStatus(dep, replicas, replicas, replicas, "NewReplicaSetAvailable")
	_, err = cs.AppsV1().Deployments(namespace).UpdateStatus(ctx, dep, metav1.UpdateOptions{})
	return err
}

// SetRolloutStatus sets dep's status as the Deployment controller reports a point of the rollout
// of its current generation: replicas pods in all, updated of them from the current template,
// available of them ready and available, Available True, and Progressing True for the reason
// given (NewReplicaSetAvailable once complete, ReplicaSetUpdated before).
func SetRolloutStatus(dep *appsv1.Deployment, replicas, updated, available int32, progressing string) {
	now := metav1.Now()
	dep.Status = appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation,
		Replicas:           replicas,
		UpdatedReplicas:    updated,
		ReadyReplicas:      available,
		AvailableReplicas:  available,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastUpdateTime: now, LastTransitionTime: now},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: progressing, LastUpdateTime: now, LastTransitionTime: now},
		},
	}
}

// StandInControllers does what the Deployment controller, scheduler, kubelet and Istio's
// injector would for the suite's fixtures, until the test ends: every managed Deployment whose
// spec changed is rolled out, with a sidecar exactly where its namespace says
// istio-injection=enabled.
func StandInControllers(t testing.TB, kube kubernetes.Interface) {
	StandIn(t, func(ctx context.Context) {
		deps, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: mesh.ManagedSelector})
		if err != nil {
			return
		}
		for i := range deps.Items {
			d := &deps.Items[i]
			if d.Status.ObservedGeneration == d.Generation {
				continue
			}
			ns, err := kube.CoreV1().Namespaces().Get(ctx, d.Namespace, metav1.GetOptions{})
			if err != nil {
				continue
			}
			sidecar := NoSidecar
			if ns.Labels["istio-injection"] == "enabled" {
				sidecar = ContainerSidecar
			}
			if err := Rollout(ctx, kube, d.Namespace, d.Name, sidecar); err != nil && ctx.Err() == nil {
				t.Logf("stand-in rollout %s/%s: %v", d.Namespace, d.Name, err)
			}
		}
	})
}

// StandInIstiod creates what cluster.DetectIstio looks for in a cluster that runs Istio: the
// namespace istio-system and an Available Deployment labelled app=istiod (default revision)
// whose discovery image carries version.
func StandInIstiod(t testing.TB, kube kubernetes.Interface, version string) {
	t.Helper()
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	istiod := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod", Namespace: "istio-system", Labels: map[string]string{"app": "istiod", mesh.RevisionLabel: mesh.DefaultRevision}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "istiod"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Image: "docker.io/istio/pilot:" + version}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments("istio-system").Create(ctx, istiod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := CompleteRollout(ctx, kube, "istio-system", "istiod"); err != nil {
		t.Fatal(err)
	}
}

// StandInMesh is a real kube-apiserver standing in for a user's cluster with Istio 1.31.1: a
// stand-in istiod, stand-in controllers (StandInControllers) and the namespace finalizer; no
// kubelet, so every exec fails.
func StandInMesh(t testing.TB) (*envtestenv.Env, kubernetes.Interface) {
	t.Helper()
	env := envtestenv.Start(t)
	kube := env.Kube(t)
	NamespaceFinalizer(t, kube)
	StandInIstiod(t, kube, "1.31.1")
	StandInControllers(t, kube)
	return env, kube
}
