package deploy

import (
	"context"
	"fmt"
	"time"

	"istio.io/api/label"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/e2e-framework/klient/wait"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// UseWaypointLabel on a namespace sends every Service of it through the named waypoint (istio.io/api
// label.IoIstioUseWaypoint).
var UseWaypointLabel = label.IoIstioUseWaypoint.Name

// waypointGateway is the Gateway of w, labelled as the suite's: exactly w's annotations.
func (d *Deployer) waypointGateway(w scenarios.Waypoint) *gatewayv1.Gateway {
	gw := gatewayapi.Waypoint(scenarios.WaypointName, w.Namespace, w.Annotations())
	gw.Labels = d.labels()
	return gw
}

// ApplyWaypoint creates the waypoint of w (Gateway scenarios.WaypointName of class
// istio-waypoint in w.Namespace), or updates the one the suite made in place, so that its
// annotations are exactly w.Annotations(): a step that no longer asks for the client identity
// takes ambient.istio.io/xfcc-include-client-identity off. Then it labels the namespace
// istio.io/use-waypoint=<WaypointName>. Only a namespace and a Gateway the suite manages are
// changed. istiod's deployment controller then makes the waypoint's Deployment (WaitWaypointReady).
func (d *Deployer) ApplyWaypoint(ctx context.Context, w scenarios.Waypoint) error {
	if err := d.checkManagedNamespace(ctx, w.Namespace, "putting a waypoint in it"); err != nil {
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
	d.logf("applied %s (class %s, annotations %v)", key, gatewayapi.WaypointClass, gw.Annotations)
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
	err = d.waitWaypointDeployment(ctx, namespace, d.DeleteTimeout, func(dep *appsv1.Deployment) string {
		if dep != nil {
			return "still present"
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("deploy: waypoint Deployment %s/%s not gone within %s (%w)", namespace, scenarios.WaypointName, d.DeleteTimeout, err)
	}
	return nil
}

// WaitWaypointReady waits, within ReadyTimeout, until w's waypoint Deployment (named after the
// Gateway by istiod's deployment controller) has rolled out what the Gateway now says, as
// `kubectl rollout status` decides it (rolloutPending): istiod copies the Gateway's annotations
// onto the pod template (istio/istio pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go
// extractInfrastructureMetadata, with PILOT_ENABLE_GATEWAY_API_COPY_LABELS_ANNOTATIONS on by
// default; istio-discovery files/waypoint.yaml), so a step that adds or drops the XFCC annotation
// rolls out a new waypoint pod, and until the template carries the step's value the Deployment
// is not yet the step's (Available throughout a rolling update, it would say nothing).
func (d *Deployer) WaitWaypointReady(ctx context.Context, w scenarios.Waypoint) error {
	want := w.Annotations()[scenarios.XFCCClientIdentityAnnotation]
	err := d.waitWaypointDeployment(ctx, w.Namespace, d.ReadyTimeout, func(dep *appsv1.Deployment) string {
		if dep == nil {
			return "not created yet"
		}
		if got := dep.Spec.Template.Annotations[scenarios.XFCCClientIdentityAnnotation]; got != want {
			return fmt.Sprintf("pod template %s=%q, the Gateway's %q (istiod copies the Gateway's annotations unless PILOT_ENABLE_GATEWAY_API_COPY_LABELS_ANNOTATIONS=false)", scenarios.XFCCClientIdentityAnnotation, got, want)
		}
		return rolloutPending(dep)
	})
	if err != nil {
		return fmt.Errorf("deploy: waypoint Deployment %s/%s not rolled out within %s (%w)", w.Namespace, scenarios.WaypointName, d.ReadyTimeout, err)
	}
	d.logf("waypoint Deployment %s/%s rolled out", w.Namespace, scenarios.WaypointName)
	return nil
}

// waitWaypointDeployment polls namespace's waypoint Deployment (nil when there is none) until
// pending says "" of it, within timeout; the error is the last thing pending said, or the last
// read that failed.
func (d *Deployer) waitWaypointDeployment(ctx context.Context, namespace string, timeout time.Duration, pending func(*appsv1.Deployment) string) error {
	last, judged := "not checked yet", false
	err := wait.For(func(ctx context.Context) (bool, error) {
		dep, err := d.kube.AppsV1().Deployments(namespace).Get(ctx, scenarios.WaypointName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			dep = nil
		case err != nil:
			// An API error is "not yet", and says less than what a read showed before (near the
			// deadline client-go's rate limiter refuses to wait: no news about the Deployment).
			if !judged {
				last = err.Error()
			}
			return false, nil
		}
		last, judged = pending(dep), true
		return last == "", nil
	}, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(d.PollInterval), wait.WithImmediate())
	if err != nil {
		return fmt.Errorf("%s: %w", last, err)
	}
	return nil
}

// checkManagedNamespace fails unless namespace exists and the suite manages it; the error says
// what the suite is then not doing to it.
func (d *Deployer) checkManagedNamespace(ctx context.Context, namespace, doing string) error {
	ns, err := d.kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("deploy: namespace %s: %w", namespace, err)
	}
	if ns.Labels[mesh.ManagedByLabel] != mesh.ManagedByValue {
		return fmt.Errorf("deploy: namespace %s is not managed by mtls-conformance; not %s", namespace, doing)
	}
	return nil
}
