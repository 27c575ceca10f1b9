package deploy

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// LabelFixture returns a copy of obj carrying the run's labels; a Deployment's pod template
// gets the managed-by label too, so its ReplicaSets and pods are found (and counted) by
// cleanup. The template does not get the run id: a new run would otherwise roll every pod.
func (d *Deployer) LabelFixture(obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := obj.DeepCopy()
	out.SetLabels(addLabels(out.GetLabels(), d.labels()))
	if out.GetKind() == "Deployment" {
		tmpl, _, err := unstructured.NestedStringMap(out.Object, "spec", "template", "metadata", "labels")
		if err != nil {
			return nil, fmt.Errorf("deploy: %s/%s pod template labels: %w", out.GetNamespace(), out.GetName(), err)
		}
		tmpl = addLabels(tmpl, map[string]string{mesh.ManagedByLabel: mesh.ManagedByValue})
		if err := unstructured.SetNestedStringMap(out.Object, tmpl, "spec", "template", "metadata", "labels"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ApplyFixtures server-side applies every fixture object, as d.Fixtures varies them, in
// fixtures.Objects order (namespaces first). It first checks that no fixture namespace already exists without the suite's label:
// on a cluster the suite did not create, a namespace called foo may be somebody's, and the
// suite must not take it over (nor delete it in cleanup). In that case nothing is applied.
func (d *Deployer) ApplyFixtures(ctx context.Context) error {
	objs, err := fixtures.ObjectsFor(d.Fixtures)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			continue
		}
		ns, err := d.kube.CoreV1().Namespaces().Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("deploy: namespace %s: %w", o.GetName(), err)
		case ns.Labels[mesh.ManagedByLabel] != mesh.ManagedByValue:
			return fmt.Errorf("deploy: namespace %s already exists and is not managed by mtls-conformance (no label %s); the suite will not touch it: run on a cluster without it", o.GetName(), mesh.ManagedSelector)
		}
	}
	for _, o := range objs {
		if err := d.Apply(ctx, o); err != nil {
			return err
		}
	}
	d.logf("applied %d fixture objects (run %s)", len(objs), d.runID)
	return nil
}

// Apply labels obj and server-side applies it, forcing conflicts: these fields are the suite's.
func (d *Deployer) Apply(ctx context.Context, obj *unstructured.Unstructured) error {
	labelled, err := d.LabelFixture(obj)
	if err != nil {
		return err
	}
	gvk := labelled.GroupVersionKind()
	mapping, err := d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("deploy: %s %s: %w", gvk.Kind, labelled.GetName(), err)
	}
	res := d.dyn.Resource(mapping.Resource)
	var client interface {
		Apply(context.Context, string, *unstructured.Unstructured, metav1.ApplyOptions, ...string) (*unstructured.Unstructured, error)
	} = res
	if mapping.Scope.Name() == "namespace" {
		client = res.Namespace(labelled.GetNamespace())
	}
	if _, err := client.Apply(ctx, labelled.GetName(), labelled, metav1.ApplyOptions{FieldManager: mesh.FieldManager, Force: true}); err != nil {
		return fmt.Errorf("deploy: applying %s %s/%s: %w", gvk.Kind, labelled.GetNamespace(), labelled.GetName(), err)
	}
	return nil
}
