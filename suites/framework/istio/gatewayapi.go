package istio

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeclient"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// installerCreated is CreatedByAnnotation's value on what the Installer created (the Istio
// namespace, the Gateway API CRDs): what its uninstall may delete.
const installerCreated = "istio-installer"

// GatewayAPIInstalled says whether the cluster behind cfg serves gateway.networking.k8s.io/v1
// gateways, which an ambient waypoint is (for a cluster the suite did not create, whose Gateway
// API someone else installed or not), by discovery (kubeclient.Serves).
func GatewayAPIInstalled(ctx context.Context, cfg *rest.Config) (bool, error) {
	served, err := kubeclient.Serves(ctx, cfg, gatewayapi.Gateways)
	if err != nil {
		return false, fmt.Errorf("istio: %w", err)
	}
	return served, nil
}

// installGatewayAPI creates each Gateway API CRD a waypoint needs (fixtures/gatewayapi: the
// standard channel's GatewayClass and Gateway at the version go.mod requires) that the cluster
// lacks, annotated CreatedByAnnotation so that uninstallGatewayAPI deletes only those, and waits
// until every one of them is Established. A CRD that exists is left as it is, whoever made it.
func (in *Installer) installGatewayAPI(ctx context.Context) error {
	crds, err := gatewayapi.CRDs()
	if err != nil {
		return err
	}
	client := in.ext.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range crds {
		_, err := client.Get(ctx, crd.Name, metav1.GetOptions{})
		switch {
		case err == nil:
			in.logf("Gateway API CRD %s exists; leaving it", crd.Name)
			continue
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("istio: Gateway API CRD %s: %w", crd.Name, err)
		}
		if crd.Annotations == nil {
			crd.Annotations = map[string]string{}
		}
		crd.Annotations[CreatedByAnnotation] = installerCreated
		switch _, err := client.Create(ctx, crd, metav1.CreateOptions{FieldManager: mesh.FieldManager}); {
		case apierrors.IsAlreadyExists(err):
			// Someone else's, made since the Get: theirs to keep (it carries no annotation of ours).
		case err != nil:
			return fmt.Errorf("istio: creating Gateway API CRD %s: %w", crd.Name, err)
		default:
			in.logf("created Gateway API CRD %s (%s)", crd.Name, crd.Annotations[gatewayapi.BundleVersionAnnotation])
		}
	}
	err = pollUntil(ctx, in.pollEvery, in.opts.HelmTimeout, func(ctx context.Context) (bool, string, error) {
		var pending []string
		for _, want := range crds {
			crd, err := client.Get(ctx, want.Name, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			if !apihelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) {
				pending = append(pending, crd.Name)
			}
		}
		return len(pending) == 0, "not Established: " + strings.Join(pending, ", "), nil
	})
	if err != nil {
		return fmt.Errorf("istio: Gateway API CRDs: %w", err)
	}
	return nil
}

// uninstallGatewayAPI deletes the Gateway API CRDs installGatewayAPI created (annotated
// CreatedByAnnotation; with them every Gateway, and so every waypoint) and waits until they are
// gone. CRDs someone else installed stay.
func (in *Installer) uninstallGatewayAPI(ctx context.Context) error {
	crds, err := gatewayapi.CRDs()
	if err != nil {
		return err
	}
	client := in.ext.ApiextensionsV1().CustomResourceDefinitions()
	var deleted []string
	for _, want := range crds {
		crd, err := client.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("istio: Gateway API CRD %s: %w", want.Name, err)
		}
		if crd.Annotations[CreatedByAnnotation] != installerCreated {
			continue
		}
		err = client.Delete(ctx, crd.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &crd.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("istio: deleting Gateway API CRD %s: %w", crd.Name, err)
		}
		in.logf("deleting Gateway API CRD %s", crd.Name)
		deleted = append(deleted, crd.Name)
	}
	err = pollUntil(ctx, in.pollEvery, in.opts.HelmTimeout, func(ctx context.Context) (bool, string, error) {
		var left []string
		for _, name := range deleted {
			_, err := client.Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return false, "", err
			default:
				left = append(left, name)
			}
		}
		return len(left) == 0, "still present: " + strings.Join(left, ", "), nil
	})
	if err != nil {
		return fmt.Errorf("istio: deleting Gateway API CRDs: %w", err)
	}
	return nil
}
