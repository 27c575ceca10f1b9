package istio

import (
	"fmt"
	"strings"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// Images are the images this Installer's istiod chart runs, as the chart resolves them (its
// values under the Installer's): istiod, "{hub}/{image}:{tag}" (istio-discovery
// templates/deployment.yaml), and with proxy the sidecar the injector adds,
// "{hub}/{global.proxy.image}:{tag}" (files/injection-template.yaml, .ProxyImage). A run that
// loads its images into kind nodes (LOAD_IMAGES) loads these.
func (in *Installer) Images(proxy bool) ([]string, error) {
	ch, err := in.LoadChart(IstiodChart)
	if err != nil {
		return nil, err
	}
	// Istio's charts keep their defaults under _internal_defaults_do_not_set and merge the
	// user's values over them (templates/zzz_profile.yaml).
	defaults, ok := ch.Values["_internal_defaults_do_not_set"].(map[string]any)
	if !ok {
		defaults = ch.Values
	}
	values := loader.MergeMaps(defaults, in.IstiodValues())
	global, _ := values["global"].(map[string]any)
	hub, _ := global["hub"].(string)
	tag, _ := global["tag"].(string)
	if hub == "" || tag == "" {
		return nil, fmt.Errorf("istio %s: the istiod chart names no image hub/tag (global.hub %q, global.tag %q): set --istio-hub and --istio-tag", in.opts.Version, hub, tag)
	}
	pilot, _ := values["image"].(string)
	if pilot == "" {
		pilot = "pilot"
	}
	if !strings.Contains(pilot, "/") {
		pilot = hub + "/" + pilot + ":" + tag
	}
	out := []string{pilot}
	if proxy {
		proxyValues, _ := global["proxy"].(map[string]any)
		image, _ := proxyValues["image"].(string)
		if image == "" {
			return nil, fmt.Errorf("istio %s: the istiod chart names no global.proxy.image", in.opts.Version)
		}
		if !strings.Contains(image, "/") {
			image = hub + "/" + image + ":" + tag
		}
		out = append(out, image)
	}
	return out, nil
}
