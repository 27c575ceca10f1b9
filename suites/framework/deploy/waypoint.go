package deploy

import (
	"context"
	"fmt"
	"maps"

	"istio.io/api/label"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// The waypoint Gateway as `istioctl waypoint generate` writes it (istio/istio
// istioctl/pkg/waypoint/waypoint.go makeGateway): class istio-waypoint
// (pkg/config/constants WaypointGatewayClassName; istio.io/istio is not a dependency of this
// module, and istio.io/api has no constant for it), one listener "mesh" on the HBONE port 15008
// with protocol HBONE (pkg/config/protocol HBONE).
const (
	WaypointClass    = "istio-waypoint"
	waypointListener = "mesh"
	waypointPort     = 15008
	hboneProtocol    = gatewayv1.ProtocolType("HBONE")
)

// UseWaypointLabel on a namespace sends every Service of it through the named waypoint (istio.io/api
// label.IoIstioUseWaypoint).
var UseWaypointLabel = label.IoIstioUseWaypoint.Name

// waypointGateway is the Gateway of w: scenarios.WaypointName in w.Namespace, the suite's labels,
// exactly w's annotations.
func (d *Deployer) waypointGateway(w scenarios.Waypoint) *gatewayv1.Gateway {
	return &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{
			Name:        scenarios.WaypointName,
			Namespace:   w.Namespace,
			Labels:      d.labels(),
			Annotations: maps.Clone(w.Annotations()),
		},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: WaypointClass,
			Listeners: []gatewayv1.Listener{{
				Name:     waypointListener,
				Port:     waypointPort,
				Protocol: hboneProtocol,
			}},
		},
	}
}

// ApplyWaypoint creates the waypoint of w (Gateway scenarios.WaypointName of class
// istio-waypoint in w.Namespace), or updates the one the suite made in place, so that its
// annotations are exactly w.Annotations(): a step that no longer asks for the client identity
// takes ambient.istio.io/xfcc-include-client-identity off. Then it labels the namespace
// istio.io/use-waypoint=<WaypointName>. Only a namespace and a Gateway the suite manages are
// changed. istiod's deployment controller then makes the waypoint's Deployment (WaitWaypointReady).
func (d *Deployer) ApplyWaypoint(ctx context.Context, w scenarios.Waypoint) error {
	if err := d.checkManagedNamespace(ctx, w.Namespace); err != nil {
		return err
	}
	gw := d.waypointGateway(w)
	key := "Gateway " + w.Namespace + "/" + gw.Name
	// istiod writes the Gateway's status, which moves its resourceVersion between applyManaged's
	// read and its update: retry on that conflict (each try reads again).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		_, err := applyManaged(ctx, d.gateways.GatewayV1().Gateways(w.Namespace), d.waypointGateway(w))
		return err
	})
	if apierrors.IsNotFound(err) {
		// The namespace exists (checked above): the resource is what is missing.
		return fmt.Errorf("deploy: applying %s: the cluster does not serve %s %s (install the Gateway API CRDs; the ambient install does when it creates Istio): %w", key, gatewayapi.Gateways.GroupVersion(), gatewayapi.Gateways.Resource, err)
	}
	if err != nil {
		return fmt.Errorf("deploy: applying %s: %w", key, err)
	}
	d.logf("applied %s (class %s, annotations %v)", key, WaypointClass, gw.Annotations)
	return d.relabelNamespace(ctx, w.Namespace, UseWaypointLabel, scenarios.WaypointName)
}

// RemoveWaypoint takes namespace's waypoint away: it removes the istio.io/use-waypoint label
// first (so no Service is sent to a waypoint that is going), deletes the Gateway, and waits,
// within DeleteTimeout, until the waypoint's Deployment (which istiod's deployment controller
// names after the Gateway and the garbage collector deletes with it) is gone. A namespace, a
// Gateway or a Gateway API that is not there is nothing to remove; a Gateway the suite does not
// manage is an error.
func (d *Deployer) RemoveWaypoint(ctx context.Context, namespace string) error {
	switch _, err := d.kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("deploy: namespace %s: %w", namespace, err)
	default:
		if err := d.relabelNamespace(ctx, namespace, UseWaypointLabel, nil); err != nil {
			return err
		}
	}
	key := "Gateway " + namespace + "/" + scenarios.WaypointName
	gateways := d.gateways.GatewayV1().Gateways(namespace)
	// Not found: no such Gateway, or (a 404 on the resource) no Gateway API on the cluster.
	gw, err := gateways.Get(ctx, scenarios.WaypointName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("deploy: %s: %w", key, err)
	case gw.Labels[mesh.ManagedByLabel] != mesh.ManagedByValue:
		return fmt.Errorf("deploy: %s is not managed by mtls-conformance; not deleting it", key)
	default:
		err := gateways.Delete(ctx, gw.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &gw.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deploy: deleting %s: %w", key, err)
		}
		d.logf("deleted %s", key)
	}
	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: scenarios.WaypointName, Namespace: namespace}}
	deleted := conditions.New(d.resources).ResourceDeleted(deployment)
	var last error
	err = wait.For(func(ctx context.Context) (bool, error) {
		// An API error is "not yet": the timeout's message says what was last seen.
		done, err := deleted(ctx)
		last = err
		return done && err == nil, nil
	}, wait.WithContext(ctx), wait.WithTimeout(d.DeleteTimeout), wait.WithInterval(d.PollInterval), wait.WithImmediate())
	if err != nil {
		msg := fmt.Sprintf("deploy: waypoint Deployment %s/%s still present after %s", namespace, scenarios.WaypointName, d.DeleteTimeout)
		if last != nil {
			msg += " (last check: " + last.Error() + ")"
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	return nil
}

// WaitWaypointReady waits, within ReadyTimeout, until namespace's waypoint Deployment (named
// after the Gateway by istiod's deployment controller) exists and is Available
// (e2e-framework's conditions.DeploymentAvailable).
func (d *Deployer) WaitWaypointReady(ctx context.Context, namespace string) error {
	available := conditions.New(d.resources).DeploymentAvailable(scenarios.WaypointName, namespace)
	last := "not checked yet"
	err := wait.For(func(ctx context.Context) (bool, error) {
		// DeploymentAvailable ends the wait on any error; a Deployment istiod has not created yet
		// (NotFound) or a transient API error means "not yet" here.
		done, err := available(ctx)
		switch {
		case apierrors.IsNotFound(err):
			last = "not created yet"
		case err != nil:
			last = err.Error()
		case !done:
			last = "no Available=True condition"
		}
		return done && err == nil, nil
	}, wait.WithContext(ctx), wait.WithTimeout(d.ReadyTimeout), wait.WithInterval(d.PollInterval), wait.WithImmediate())
	if err != nil {
		return fmt.Errorf("deploy: waypoint Deployment %s/%s not Available within %s (%s): %w", namespace, scenarios.WaypointName, d.ReadyTimeout, last, err)
	}
	d.logf("waypoint Deployment %s/%s Available", namespace, scenarios.WaypointName)
	return nil
}

// checkManagedNamespace fails unless namespace exists and the suite manages it.
func (d *Deployer) checkManagedNamespace(ctx context.Context, namespace string) error {
	ns, err := d.kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("deploy: namespace %s: %w", namespace, err)
	}
	if ns.Labels[mesh.ManagedByLabel] != mesh.ManagedByValue {
		return fmt.Errorf("deploy: namespace %s is not managed by mtls-conformance; not putting a waypoint in it", namespace)
	}
	return nil
}
