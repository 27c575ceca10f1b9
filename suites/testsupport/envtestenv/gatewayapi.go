package envtestenv

import (
	"context"
	"testing"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeclient"
)

// InstallGatewayAPI installs the embedded Gateway API CRDs (fixtures/gatewayapi) into e, waits
// until they are Established and gateways are served, and removes them when the test ends (after
// the cleanups registered later, a world's included: call it before building one), so that a
// shared apiserver's other tests see it without them.
func InstallGatewayAPI(t testing.TB, e *Env) gatewayclient.Interface {
	t.Helper()
	ext := apiextensionsclient.NewForConfigOrDie(e.Config)
	crds, err := gatewayapi.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	served := func(want bool) error {
		return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, crdReadyTimeout, true, func(ctx context.Context) (bool, error) {
			got, err := kubeclient.Serves(ctx, e.Config, gatewayapi.Gateways)
			return got == want, err
		})
	}
	t.Cleanup(func() {
		for _, crd := range crds {
			if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, crd.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting CRD %s: %v", crd.Name, err)
			}
		}
		if err := served(false); err != nil {
			t.Errorf("Gateway API still served %s after deleting its CRDs: %v", crdReadyTimeout, err)
		}
	})
	for _, crd := range crds {
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitEstablished(e.Config, crds); err != nil {
		t.Fatal(err)
	}
	if err := served(true); err != nil {
		t.Fatalf("Gateway API not served %s after its CRDs were Established: %v", crdReadyTimeout, err)
	}
	return gatewayclient.NewForConfigOrDie(e.Config)
}
