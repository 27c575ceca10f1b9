package world

import (
	"context"
	"errors"
	"slices"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
)

// What the upgrade suite needs beyond a conformance run: the Istio it installed, to upgrade it,
// and a say in which control plane revisions the readiness checks expect to inject sidecars.

// IstioInstaller is the Helm installer of the Istio this run installed. An upgrade changes the
// control plane, so it runs only on an Istio the run installed itself (kind, or an existing
// cluster without Istio and --install-istio); on any other Istio it is an error.
func (w *World) IstioInstaller() (*istio.Installer, error) {
	if w.installer == nil || !w.installedIstio {
		return nil, errors.New("this run did not install Istio, so it will not upgrade it: run on kind, or on an existing cluster without Istio with --install-istio (INSTALL_ISTIO=1)")
	}
	return w.installer, nil
}

// Revisions are the control plane revisions that inject sidecars ("default" for the
// unrevisioned istiod); nil means the default one only.
func (w *World) Revisions() []string { return slices.Clone(w.revisions) }

// SetRevisions says which revisions inject sidecars from now on (after a canary is installed, and
// after the old control plane is removed): restarts and readiness checks expect sidecars exactly
// where one of them injects (deploy.Injected).
func (w *World) SetRevisions(revisions []string) { w.revisions = slices.Clone(revisions) }

// LoadImages loads more images from the local container runtime into the kind nodes when the
// run loads its images (LOAD_IMAGES), as Setup loaded the run's: the upgrade's TO control plane.
func (w *World) LoadImages(ctx context.Context, images []string) error {
	if !w.Settings.LoadImages || w.provider == nil {
		return nil
	}
	return w.provider.LoadImages(ctx, images)
}
