package istio

import "context"

// The ambient data plane's charts and releases, as Istio's ambient Helm install names them
// (istio.io docs/ambient/install/helm; manifests/charts/istio-cni/README.md "helm install
// istio-cni istio/cni", manifests/charts/ztunnel/README.md "helm install ztunnel istio/ztunnel").
// In istio/istio's source tree the cni chart lives in manifests/charts/istio-cni.
const (
	CNIChart       = "cni"
	ZtunnelChart   = "ztunnel"
	CNIRelease     = "istio-cni"
	ZtunnelRelease = "ztunnel"
	// AmbientProfile is the charts' built-in profile for ambient (files/profile-ambient.yaml of
	// istiod, cni and ztunnel: PILOT_ENABLE_AMBIENT=true for istiod, cni.ambient.enabled=true).
	AmbientProfile = "ambient"
)

// AmbientIstiodValues are what istiod needs on top of IstiodValues for ambient: the ambient
// profile. Pass them as Options.Values (merged last).
func AmbientIstiodValues() map[string]any { return map[string]any{"profile": AmbientProfile} }

// AmbientValues are the cni and ztunnel charts' values: the ambient profile, the Istio
// namespace, and the hub/tag overrides (ztunnel's image is "{hub}/ztunnel:{tag}" from top-level
// values, cni's "{hub|global.hub}/install-cni:{tag}": templates/daemonset.yaml of each chart).
func (in *Installer) AmbientValues() map[string]any {
	global := map[string]any{"istioNamespace": in.opts.Namespace}
	v := map[string]any{"profile": AmbientProfile, "global": global}
	if in.opts.Hub != "" {
		v["hub"], global["hub"] = in.opts.Hub, in.opts.Hub
	}
	if in.opts.Tag != "" {
		v["tag"], global["tag"] = in.opts.Tag, in.opts.Tag
	}
	if in.opts.Revision != "" {
		v["revision"] = in.opts.Revision
	}
	return v
}

// InstallAmbient installs the istio-cni node agent and ztunnel (after istiod, as Istio's ambient
// Helm install orders them). Readiness of their DaemonSets needs nodes that run them, which the
// caller checks on a real cluster. First it creates the Gateway API CRDs a waypoint needs when
// the cluster lacks them, and waits until they are Established (istio.io docs/ambient/install/helm
// installs the Gateway API CRDs before the charts); UninstallAmbient deletes only those it created.
func (in *Installer) InstallAmbient(ctx context.Context) error {
	if err := in.installGatewayAPI(ctx); err != nil {
		return err
	}
	for _, c := range []struct{ chart, release string }{{CNIChart, CNIRelease}, {ZtunnelChart, ZtunnelRelease}} {
		ch, err := in.LoadChart(c.chart)
		if err != nil {
			return err
		}
		if err := in.install(ctx, c.release, ch, in.AmbientValues()); err != nil {
			return err
		}
	}
	return nil
}

// UninstallAmbient removes ztunnel and istio-cni (reverse order), waiting until what each made
// is gone; a release that is not there is no error. Then it deletes the Gateway API CRDs
// InstallAmbient created (annotated CreatedByAnnotation), and with them any Gateway left; CRDs
// that were there before stay.
func (in *Installer) UninstallAmbient(ctx context.Context) error {
	for _, release := range []string{ZtunnelRelease, CNIRelease} {
		if err := in.uninstall(release, true); err != nil {
			return err
		}
	}
	return in.uninstallGatewayAPI(ctx)
}
