package world

import (
	"context"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
)

// loadImages copies every image the run will use from the local container runtime into the
// kind nodes (LOAD_IMAGES), so the run pulls nothing: the fixtures' images as the run deploys
// them, istiod's, and the sidecar's when a namespace is injected. Air-gapped laptops and CI
// runners without registry access (or under Docker Hub's rate limits) need this.
func (w *World) loadImages(ctx context.Context, inst *istio.Installer) error {
	if !w.Settings.LoadImages || w.provider == nil {
		return nil
	}
	images, err := fixtures.RunImages(w.variant)
	if err != nil {
		return err
	}
	istioImages, err := inst.Images(len(w.Topology.InjectedNamespaces()) > 0)
	if err != nil {
		return err
	}
	return w.provider.LoadImages(ctx, append(istioImages, images...))
}
