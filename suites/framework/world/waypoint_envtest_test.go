package world

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"istio.io/api/label"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/deploytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/waypointdump"
)

// TestWaypointScenario runs catalog scenario waypoint-xfcc on the real apiserver tier, ambient,
// on an existing Istio: without the Gateway API the first step fails in one line; with it each
// step deploys the waypoint (Gateway "waypoint", class istio-waypoint, the suite's labels, the
// XFCC annotation exactly when the step asks, foo labelled istio.io/use-waypoint=waypoint),
// waits for its Deployment and then for ztunnel and the waypoint's Envoy to say what the step
// says; the reset takes the waypoint away; teardown leaves nothing. No istiod, ztunnel or Envoy
// runs here: stand-ins do what each would (istiod's deployment controller makes the waypoint's
// Deployment from the Gateway, ztunnel routes a labelled namespace's Services through it, the
// waypoint's listeners follow its Gateway's annotation).
func TestWaypointScenario(t *testing.T) {
	env, kube, s := ambientOnExistingIstio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	readyZtunnel(t, kube)
	standInCNI(t, kube)
	w := newWorld(t, s)
	if err := w.Setup(ctx); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	w.ztunnels = standInZtunnels{w: w, istio: istioClient(t, env)}
	sc := catalogtest.Scenario(t, "waypoint-xfcc")

	err := w.ApplyStep(ctx, sc, 0)
	if err == nil || !strings.HasPrefix(err.Error(), "waypoint-xfcc step 1 (foo behind a waypoint): deploy: applying Gateway foo/waypoint: the cluster does not serve gateway.networking.k8s.io/v1 gateways (install the Gateway API CRDs; the ambient install does when it creates Istio)") {
		t.Fatalf("a waypoint without the Gateway API: %v", err)
	}

	// After the world, unlike InstallGatewayAPI's rule, for the step above: should the test fail
	// before its Teardown, the CRDs go first and the world's cleanup lists no Gateways (none is
	// served), while the namespaces holding any go with it.
	gateways := envtestenv.InstallGatewayAPI(t, env)
	standInWaypointController(t, kube, gateways)
	w.waypoints = standInWaypoints{t: t, topo: w.Topology, gateways: gateways}
	for i, wantAnnotation := range []string{"", "true", "true"} {
		if err := w.ApplyStep(ctx, sc, i); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		gw, err := gateways.GatewayV1().Gateways("foo").Get(ctx, scenarios.WaypointName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if gw.Spec.GatewayClassName != gatewayapi.WaypointClass || gw.Annotations[scenarios.XFCCClientIdentityAnnotation] != wantAnnotation {
			t.Errorf("step %d: Gateway class %q, annotations %v; want %s and %q", i+1, gw.Spec.GatewayClassName, gw.Annotations, gatewayapi.WaypointClass, wantAnnotation)
		}
		if l := namespaceLabels(t, kube, "foo"); l[deploy.UseWaypointLabel] != scenarios.WaypointName {
			t.Errorf("step %d: foo labels %v", i+1, l)
		}
	}
	if err := w.ResetScenario(ctx, sc); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := gateways.GatewayV1().Gateways("foo").Get(ctx, scenarios.WaypointName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Gateway after the reset: %v", err)
	}
	if l := namespaceLabels(t, kube, "foo"); l[deploy.UseWaypointLabel] != "" {
		t.Errorf("foo after the reset: labels %v", l)
	}

	// A waypoint whose Envoy never gets the annotated Gateway's listeners: the step is not in
	// force, and the line names the waypoint.
	w.waypoints = standInWaypoints{t: t, topo: w.Topology, gateways: gateways, stale: true}
	if err := w.ApplyStep(ctx, sc, 0); err != nil {
		t.Fatalf("step 1 again: %v", err)
	}
	err = w.ApplyStep(ctx, sc, 1)
	if err == nil || !strings.Contains(err.Error(), "waypoint pod foo/waypoint-0 gives httpbin.foo XFCC with the client identity: false, the step expects true") {
		t.Errorf("a waypoint not pushed: %v", err)
	}
	if err := w.Teardown(2 * time.Minute); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	assertManaged(t, ctx, env, 0)
}

// readyZtunnel is the user's ztunnel DaemonSet, rolled out.
func readyZtunnel(t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	zt := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ztunnel", Namespace: "istio-system", Labels: map[string]string{"app.kubernetes.io/name": "ztunnel"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ztunnel"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "ztunnel"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "docker.io/istio/ztunnel:1.31.1"}}},
			},
		},
	}
	if _, err := kube.AppsV1().DaemonSets("istio-system").Create(context.Background(), zt, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	markDaemonSetReady(t, kube, "istio-system", "ztunnel")
}

func namespaceLabels(t *testing.T, kube kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	got, err := kube.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Labels
}

// standInWaypointController does what istiod's deployment controller does for a waypoint
// Gateway, until the test ends: a Deployment named after the Gateway, carrying its labels, and
// its annotations on the pod template (istio-discovery files/waypoint.yaml: the Gateway's labels
// and annotations as infrastructure metadata, and gateway.networking.k8s.io/gateway-name), kept
// in step with the Gateway's annotations; StandInControllers rolls out each change; when the
// Gateway is gone the Deployment goes, as the garbage collector would take it with its owner.
func standInWaypointController(t *testing.T, kube kubernetes.Interface, gateways gatewayclient.Interface) {
	deploytest.StandIn(t, func(ctx context.Context) {
		gws, err := gateways.GatewayV1().Gateways("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return
		}
		have := map[string]bool{}
		for _, gw := range gws.Items {
			have[gw.Namespace+"/"+gw.Name] = true
			dep, err := kube.AppsV1().Deployments(gw.Namespace).Get(ctx, gw.Name, metav1.GetOptions{})
			if err == nil {
				// The Gateway's annotations on the pod template: a changed one rolls out.
				if !maps.Equal(dep.Spec.Template.Annotations, gw.Annotations) {
					dep.Spec.Template.Annotations = maps.Clone(gw.Annotations)
					_, _ = kube.AppsV1().Deployments(gw.Namespace).Update(ctx, dep, metav1.UpdateOptions{})
				}
				continue
			}
			if !apierrors.IsNotFound(err) {
				continue
			}
			labels := map[string]string{label.IoK8sNetworkingGatewayGatewayName.Name: gw.Name}
			for k, v := range gw.Labels {
				labels[k] = v
			}
			one := int32(1)
			dep = &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: gw.Name, Namespace: gw.Namespace, Labels: labels},
				Spec: appsv1.DeploymentSpec{
					Replicas: &one,
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{label.IoK8sNetworkingGatewayGatewayName.Name: gw.Name}},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: maps.Clone(gw.Annotations)},
						Spec:       corev1.PodSpec{ServiceAccountName: gw.Name, Containers: []corev1.Container{{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.31.1"}}},
					},
				},
			}
			_, _ = kube.AppsV1().Deployments(gw.Namespace).Create(ctx, dep, metav1.CreateOptions{})
		}
		deps, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: label.IoK8sNetworkingGatewayGatewayName.Name})
		if err != nil {
			return
		}
		for _, d := range deps.Items {
			if !have[d.Namespace+"/"+d.Name] {
				_ = kube.AppsV1().Deployments(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{})
			}
		}
	})
}

// standInWaypoints are the listeners istiod would push to a namespace's waypoint: its Gateway's
// XFCC annotation decides (checked against Istio's generator by tools/istiogen/waypoint); stale
// keeps the listeners of a Gateway without it.
type standInWaypoints struct {
	t        *testing.T
	topo     *fixtures.Topology
	gateways gatewayclient.Interface
	stale    bool
}

func (s standInWaypoints) Listeners(ctx context.Context, namespace string) (string, []*listenerv3.Listener, error) {
	gw, err := s.gateways.GatewayV1().Gateways(namespace).Get(ctx, scenarios.WaypointName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil, errors.New("0 live pods, want 1")
	}
	if err != nil {
		return "", nil, err
	}
	writes := strings.EqualFold(gw.Annotations[scenarios.XFCCClientIdentityAnnotation], "true") && !s.stale
	return "waypoint-0", waypointdump.ForNamespace(s.t, s.topo, namespace, writes), nil
}
