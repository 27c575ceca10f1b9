package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// managedResources are the resources that can hold objects carrying the suite's label, in the
// order cleanup deletes them: Istio policy first (so the mesh is back to its own state before the
// workloads go), then waypoints (Gateways: istiod's deployment controller stops reconciling a
// waypoint's Deployment once its Gateway is gone, and the garbage collector takes it), workloads
// and what controllers derived from them (ReplicaSets and pods carry the pod template's labels;
// EndpointSlice and Endpoints controllers copy a Service's labels), then the namespaces
// themselves, and with them istio.io/use-waypoint. A resource the cluster does not serve (Istio's
// without Istio, Gateways without the Gateway API) holds none: listLabelled.
var managedResources = []schema.GroupVersionResource{
	{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"},
	{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
	gatewayapi.Gateways,
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "replicasets"},
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "services"},
	{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
	{Version: "v1", Resource: "endpoints"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "namespaces"},
}

// ManagedObject names one object carrying the suite's label.
type ManagedObject struct {
	Resource  string
	Namespace string
	Name      string
	// Terminating is set when deletion has started but not finished.
	Terminating bool
}

func (o ManagedObject) String() string {
	s := o.Resource + " "
	if o.Namespace != "" {
		s += o.Namespace + "/"
	}
	s += o.Name
	if o.Terminating {
		s += " (terminating)"
	}
	return s
}

// ListManaged lists every object labelled app.kubernetes.io/managed-by=mtls-conformance, in any
// namespace and from any run. A resource the cluster does not serve (Istio's, without Istio)
// holds none.
func (d *Deployer) ListManaged(ctx context.Context) ([]ManagedObject, error) {
	var out []ManagedObject
	for _, gvr := range managedResources {
		items, err := d.listLabelled(ctx, gvr)
		if err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
		for _, item := range items {
			out = append(out, ManagedObject{
				Resource:    gvr.Resource,
				Namespace:   item.GetNamespace(),
				Name:        item.GetName(),
				Terminating: item.GetDeletionTimestamp() != nil,
			})
		}
	}
	return out, nil
}

// Cleanup deletes every object the suite labelled — and nothing else — and waits until none is
// left. It is meant to run after a pass, a failure or an interruption alike, so give it a context
// that is not the cancelled one (context.WithoutCancel plus a timeout).
func (d *Deployer) Cleanup(ctx context.Context) error {
	var errs []error
	for _, gvr := range managedResources {
		items, err := d.listLabelled(ctx, gvr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		background := metav1.DeletePropagationBackground
		for _, item := range items {
			// Re-check the label on the object itself: the list came from a selector, and a
			// cleanup must never touch anything else.
			if item.GetLabels()[mesh.ManagedByLabel] != mesh.ManagedByValue || item.GetDeletionTimestamp() != nil {
				continue
			}
			client := d.dyn.Resource(gvr).Namespace(item.GetNamespace())
			if item.GetNamespace() == "" {
				client = d.dyn.Resource(gvr).Namespace("")
			}
			// The UID precondition makes sure the object deleted is the one that was checked.
			uid := item.GetUID()
			err := client.Delete(ctx, item.GetName(), metav1.DeleteOptions{PropagationPolicy: &background, Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, fmt.Errorf("deleting %s %s/%s: %w", gvr.Resource, item.GetNamespace(), item.GetName(), err))
			}
		}
	}
	var remaining []ManagedObject
	err := wait.PollUntilContextTimeout(ctx, d.PollInterval, d.DeleteTimeout, true, func(ctx context.Context) (bool, error) {
		var err error
		remaining, err = d.ListManaged(ctx)
		if err != nil {
			return false, err
		}
		return len(remaining) == 0, nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("%d managed objects left after %s: %s", len(remaining), d.DeleteTimeout, summarize(remaining)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("deploy: cleanup: %w", errors.Join(errs...))
	}
	d.logf("cleanup: no managed objects left")
	return nil
}

// listLabelled lists the objects of one resource the managed-by selector matches; a resource the
// cluster does not serve (Istio's without Istio, Gateways without the Gateway API) holds none:
// listing a collection the apiserver does not serve is a 404 NotFound, and listing one it serves
// never is (an empty list).
func (d *Deployer) listLabelled(ctx context.Context, gvr schema.GroupVersionResource) ([]unstructured.Unstructured, error) {
	list, err := d.dyn.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: mesh.ManagedSelector})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
	}
	return list.Items, nil
}

func summarize(objs []ManagedObject) string {
	const show = 10
	names := make([]string, 0, len(objs))
	for _, o := range objs {
		names = append(names, o.String())
	}
	sort.Strings(names)
	if len(names) > show {
		return strings.Join(names[:show], ", ") + fmt.Sprintf(" and %d more", len(names)-show)
	}
	return strings.Join(names, ", ")
}
