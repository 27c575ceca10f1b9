//go:build e2e

package mtls

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
)

// Seed 002 applies authentication.istio.io/v1alpha1 Policy. Istio deprecated it in 1.4 and removed
// it in 1.6 (istio.io blog "Migrate pre-Istio 1.4 Alpha security policy"); the equivalent is a
// PeerAuthentication, which `conformance convert` writes and scenario seed002-namespace-policy runs.
var _ = Describe("Seed 002's v1alpha1 Policy", Serial, Label("v1alpha1", "seed002"), func() {
	It("is not served by the installed Istio: authentication.istio.io/v1alpha1 is gone (removed in Istio 1.6; use `conformance convert`)", func() {
		dc, err := discovery.NewDiscoveryClientForConfig(suite.World.Config)
		Expect(err).NotTo(HaveOccurred())
		_, err = dc.ServerResourcesForGroupVersion("authentication.istio.io/v1alpha1")
		Expect(apierrors.IsNotFound(err)).To(BeTrue(),
			"the API server still serves authentication.istio.io/v1alpha1 (err=%v): this Istio predates 1.6, outside the versions this suite supports", err)
	})
})
