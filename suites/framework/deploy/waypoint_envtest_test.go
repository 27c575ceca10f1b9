package deploy

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"istio.io/api/label"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
)

// TestApplyAndRemoveWaypoint: ApplyWaypoint creates the Gateway `istioctl waypoint generate`
// writes (class istio-waypoint, listener mesh 15008 HBONE), labelled as the suite's and annotated
// exactly as the step asks, and labels the namespace istio.io/use-waypoint=waypoint; applying the
// step without the client identity takes the annotation off the same Gateway; RemoveWaypoint
// deletes it and the label, and is no error when nothing is left; Cleanup deletes a Gateway.
func TestApplyAndRemoveWaypoint(t *testing.T) {
	gw := envtestenv.InstallGatewayAPI(t, envtestenv.Shared(t))
	w, ctx := withFixtures(t, "run-waypoint")
	gateways := gw.GatewayV1().Gateways("foo")

	wp := scenarios.Waypoint{Namespace: "foo", XFCCClientIdentity: true}
	if err := w.d.ApplyWaypoint(ctx, wp); err != nil {
		t.Fatal(err)
	}
	got, err := gateways.Get(ctx, scenarios.WaypointName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.GatewayClassName != "istio-waypoint" {
		t.Errorf("gatewayClassName %q", got.Spec.GatewayClassName)
	}
	wantListeners := []gatewayv1.Listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}}
	if len(got.Spec.Listeners) != 1 || got.Spec.Listeners[0].Name != wantListeners[0].Name || got.Spec.Listeners[0].Port != wantListeners[0].Port ||
		got.Spec.Listeners[0].Protocol != wantListeners[0].Protocol || got.Spec.Listeners[0].Hostname != nil || got.Spec.Listeners[0].TLS != nil {
		t.Errorf("listeners %+v, want %+v", got.Spec.Listeners, wantListeners)
	}
	if got.Labels[mesh.ManagedByLabel] != mesh.ManagedByValue || got.Labels[mesh.RunIDLabel] != "run-waypoint" {
		t.Errorf("labels %v", got.Labels)
	}
	if want := map[string]string{scenarios.XFCCClientIdentityAnnotation: "true"}; !maps.Equal(got.Annotations, want) {
		t.Errorf("annotations %v, want %v", got.Annotations, want)
	}
	if l := nsLabels(t, w, "foo"); l[label.IoIstioUseWaypoint.Name] != scenarios.WaypointName {
		t.Errorf("namespace foo labels %v, want %s=%s", l, label.IoIstioUseWaypoint.Name, scenarios.WaypointName)
	}

	// The next step no longer asks for the client identity: the same Gateway, without it.
	if err := w.d.ApplyWaypoint(ctx, scenarios.Waypoint{Namespace: "foo"}); err != nil {
		t.Fatal(err)
	}
	again, err := gateways.Get(ctx, scenarios.WaypointName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.UID != got.UID {
		t.Error("the second ApplyWaypoint replaced the Gateway instead of updating it")
	}
	if len(again.Annotations) != 0 {
		t.Errorf("annotations after the step without the client identity: %v", again.Annotations)
	}
	found := false
	for _, m := range w.managed(t) {
		found = found || (m.Resource == "gateways" && m.Namespace == "foo" && m.Name == scenarios.WaypointName)
	}
	if !found {
		t.Errorf("ListManaged does not list gateways foo/%s: %v", scenarios.WaypointName, w.managed(t))
	}

	if err := w.d.RemoveWaypoint(ctx, "foo"); err != nil {
		t.Fatal(err)
	}
	if _, err := gateways.Get(ctx, scenarios.WaypointName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Gateway after RemoveWaypoint: %v", err)
	}
	if l := nsLabels(t, w, "foo"); l[label.IoIstioUseWaypoint.Name] != "" {
		t.Errorf("namespace foo labels after RemoveWaypoint: %v", l)
	}
	if err := w.d.RemoveWaypoint(ctx, "foo"); err != nil {
		t.Errorf("RemoveWaypoint without a waypoint: %v", err)
	}

	// Cleanup takes a Gateway with the rest.
	if err := w.d.ApplyWaypoint(ctx, wp); err != nil {
		t.Fatal(err)
	}
	if err := w.d.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := gateways.Get(ctx, scenarios.WaypointName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Gateway after Cleanup: %v", err)
	}
}

// TestApplyWaypointLeavesForeignObjects: a Gateway called waypoint that the suite does not
// manage is not taken over, and a namespace it does not manage gets no Gateway.
func TestApplyWaypointLeavesForeignObjects(t *testing.T) {
	gw := envtestenv.InstallGatewayAPI(t, envtestenv.Shared(t))
	w, ctx := withFixtures(t, "run-waypoint-foreign")
	foreign := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: scenarios.WaypointName, Namespace: "bar"},
		Spec:       gatewayv1.GatewaySpec{GatewayClassName: "someone-elses", Listeners: []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}}},
	}
	if _, err := gw.GatewayV1().Gateways("bar").Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.GatewayV1().Gateways("bar").Delete(ctx, scenarios.WaypointName, metav1.DeleteOptions{}) })
	err := w.d.ApplyWaypoint(ctx, scenarios.Waypoint{Namespace: "bar"})
	if err == nil || !strings.Contains(err.Error(), "not managed by mtls-conformance") {
		t.Errorf("ApplyWaypoint over a foreign Gateway: %v", err)
	}
	if got, _ := gw.GatewayV1().Gateways("bar").Get(ctx, scenarios.WaypointName, metav1.GetOptions{}); got == nil || got.Spec.GatewayClassName != "someone-elses" {
		t.Errorf("foreign Gateway changed: %+v", got)
	}
	if err := w.d.RemoveWaypoint(ctx, "bar"); err == nil || !strings.Contains(err.Error(), "not managed by mtls-conformance") {
		t.Errorf("RemoveWaypoint of a foreign Gateway: %v", err)
	}

	if _, err := w.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-ours"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.deleteNamespace(t, "not-ours") })
	if err := w.d.ApplyWaypoint(ctx, scenarios.Waypoint{Namespace: "not-ours"}); err == nil || !strings.Contains(err.Error(), "not managed by mtls-conformance") {
		t.Errorf("ApplyWaypoint in a foreign namespace: %v", err)
	}
	if _, err := gw.GatewayV1().Gateways("not-ours").Get(ctx, scenarios.WaypointName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Gateway in a foreign namespace: %v", err)
	}
}

// TestWaitWaypointReady: without the waypoint's Deployment (istiod's deployment controller makes
// it; envtest has none) the wait ends after ReadyTimeout naming the Deployment; a Deployment whose
// pod template does not carry the step's XFCC annotation yet (istiod has not re-rendered it from
// the Gateway) is not the step's; one that carries it but has not rolled out is waited on; it
// returns once the rollout is complete.
func TestWaitWaypointReady(t *testing.T) {
	w, ctx := withFixtures(t, "run-waypoint-ready")
	wp := scenarios.Waypoint{Namespace: "foo", XFCCClientIdentity: true}
	w.d.ReadyTimeout = 2 * time.Second
	err := w.d.WaitWaypointReady(ctx, wp)
	if err == nil || !strings.Contains(err.Error(), "waypoint Deployment foo/waypoint not rolled out within 2s (not created yet") {
		t.Errorf("without a Deployment: %v", err)
	}
	createWaypointDeployment(t, w, "foo")
	err = w.d.WaitWaypointReady(ctx, wp)
	if err == nil || !strings.Contains(err.Error(), `not rolled out within 2s (pod template ambient.istio.io/xfcc-include-client-identity="", the Gateway's "true"`) {
		t.Errorf("a Deployment without the step's annotation: %v", err)
	}
	dep, err := w.kube.AppsV1().Deployments("foo").Get(ctx, scenarios.WaypointName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep.Spec.Template.Annotations = wp.Annotations()
	if dep, err = w.kube.AppsV1().Deployments("foo").Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = w.d.WaitWaypointReady(ctx, wp)
	if err == nil || !strings.Contains(err.Error(), "not rolled out within 2s (generation 2 not yet observed") {
		t.Errorf("a Deployment not rolled out: %v", err)
	}

	w.d.ReadyTimeout = 20 * time.Second
	err = deploytest.ReturnsAfter(t, func() error { return w.d.WaitWaypointReady(ctx, wp) }, func() {
		deploytest.SetRolloutStatus(dep, 1, 1, 1, "NewReplicaSetAvailable")
		if _, err := w.kube.AppsV1().Deployments("foo").UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Errorf("after the rollout: %v", err)
	}
}

// TestRemoveWaypointWaitsForTheDeployment: RemoveWaypoint returns only once the waypoint's
// Deployment is gone (the garbage collector deletes it with its Gateway on a cluster), and names
// it when it stays.
func TestRemoveWaypointWaitsForTheDeployment(t *testing.T) {
	w, ctx := withFixtures(t, "run-waypoint-remove")
	createWaypointDeployment(t, w, "foo")
	w.d.DeleteTimeout = 2 * time.Second
	err := w.d.RemoveWaypoint(ctx, "foo")
	if err == nil || !strings.Contains(err.Error(), "waypoint Deployment foo/waypoint not gone within 2s (still present") {
		t.Errorf("with the Deployment staying: %v", err)
	}
	w.d.DeleteTimeout = 20 * time.Second
	err = deploytest.ReturnsAfter(t, func() error { return w.d.RemoveWaypoint(ctx, "foo") }, func() {
		if err := w.kube.AppsV1().Deployments("foo").Delete(ctx, scenarios.WaypointName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Errorf("after the Deployment went: %v", err)
	}
}

// TestManagedWithoutGatewayAPI: on an apiserver that does not serve the Gateway API, gateways
// are among the managed resources, and ListManaged and Cleanup still work.
func TestManagedWithoutGatewayAPI(t *testing.T) {
	w := newWorld(t, "run-no-gateway-api")
	ctx := context.Background()
	if served, err := istio.GatewayAPIInstalled(ctx, envtestenv.Shared(t).Config); err != nil || served {
		t.Fatalf("precondition: Gateway API served=%t (%v)", served, err)
	}
	found := false
	for _, r := range managedResources {
		found = found || r == gatewayapi.Gateways
	}
	if !found {
		t.Errorf("managedResources lack %s", gatewayapi.Gateways)
	}
	if err := w.d.ApplyFixtures(ctx); err != nil {
		t.Fatal(err)
	}
	if len(w.managed(t)) == 0 {
		t.Error("ListManaged lists nothing after ApplyFixtures")
	}
	err := w.d.ApplyWaypoint(ctx, scenarios.Waypoint{Namespace: "foo"})
	if err == nil || !strings.Contains(err.Error(), "the cluster does not serve gateway.networking.k8s.io/v1 gateways") {
		t.Errorf("ApplyWaypoint without the Gateway API: %v", err)
	}
	if err := w.d.Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup without the Gateway API: %v", err)
	}
	// RemoveWaypoint has nothing to remove either.
	if err := w.d.RemoveWaypoint(ctx, "foo"); err != nil {
		t.Errorf("RemoveWaypoint without the Gateway API or the namespace: %v", err)
	}
}

// createWaypointDeployment stands in for istiod's deployment controller: a Deployment named
// after the Gateway, labelled as the suite's so cleanup takes it, without status.
func createWaypointDeployment(t *testing.T, w *world, ns string) {
	t.Helper()
	sel := map[string]string{"gateway.networking.k8s.io/gateway-name": scenarios.WaypointName}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: scenarios.WaypointName, Namespace: ns, Labels: w.d.labels()},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "registry.istio.io/release/proxyv2:1.31.0"}}},
			},
		},
	}
	if _, err := w.kube.AppsV1().Deployments(ns).Create(context.Background(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func nsLabels(t *testing.T, w *world, name string) map[string]string {
	t.Helper()
	ns, err := w.kube.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Labels
}
