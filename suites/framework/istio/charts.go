package istio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

type chartT = *chart.Chart

// sourceChartVersion is the placeholder version of the charts in istio/istio's source tree
// (manifests/charts/base/Chart.yaml: "This version is never actually shipped. istio/release-builder
// will replace it at build-time with the appropriate version").
const sourceChartVersion = "1.0.0"

// LoadChart finds and loads chart name ("base" or "istiod") at the Installer's version, from
// ChartsDir when set, else from the chart repository. The loaded chart's version must be the
// Istio version asked for, so a repository that lacks it (Helm would otherwise fall back to a
// close version) or a directory holding other charts is a clear error.
func (in *Installer) LoadChart(name string) (*chart.Chart, error) {
	var path, from string
	var err error
	if in.opts.ChartsDir != "" {
		path, err = findLocalChart(in.opts.ChartsDir, name, in.opts.Version)
		from = in.opts.ChartsDir
	} else {
		path, err = in.pullChart(name)
		from = in.opts.RepoURL
	}
	if err != nil {
		return nil, err
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("istio %s: loading chart %s from %s: %w", in.opts.Version, name, path, err)
	}
	if ch.Metadata.Name != name {
		return nil, fmt.Errorf("istio %s: %s holds chart %q, not %q", in.opts.Version, path, ch.Metadata.Name, name)
	}
	switch {
	case ch.Metadata.Version == in.opts.Version:
	case in.opts.ChartsDir != "" && ch.Metadata.Version == sourceChartVersion:
		// istio/istio's source charts default to registry.istio.io/testing:latest; say which
		// images to run.
		if in.opts.Tag == "" {
			return nil, fmt.Errorf("istio %s: chart %s in %s is Istio's unreleased source chart (version %s), whose images default to a test registry; set --istio-tag (and --istio-hub) to the images to run", in.opts.Version, name, from, sourceChartVersion)
		}
	default:
		return nil, fmt.Errorf("istio %s: chart %s from %s has version %s, not %s", in.opts.Version, name, from, ch.Metadata.Version, in.opts.Version)
	}
	return ch, nil
}

// pullChart downloads chart name at the Installer's version from the chart repository into the
// Installer's cache (Helm's ChartPathOptions.LocateChart, as `helm install --repo URL
// --version V` does).
func (in *Installer) pullChart(name string) (string, error) {
	opts := action.ChartPathOptions{RepoURL: in.opts.RepoURL, Version: in.opts.Version}
	path, err := opts.LocateChart(name, in.settings)
	var notFound repo.ChartNotFoundError
	if errors.As(err, &notFound) {
		return "", fmt.Errorf("istio %s: the chart repository %s has no %s chart at version %s; check the Istio version (released versions: https://github.com/istio/istio/releases)", in.opts.Version, in.opts.RepoURL, name, in.opts.Version)
	}
	if err != nil {
		return "", fmt.Errorf("istio %s: fetching chart %s from %s: %w", in.opts.Version, name, in.opts.RepoURL, err)
	}
	return path, nil
}

// findLocalChart looks for chart name in dir: first the archive `helm pull` writes
// (name-version.tgz), then an unpacked chart directory, then istio/istio's source layout
// (manifests/charts/istio-control/istio-discovery holds the istiod chart).
func findLocalChart(dir, name, version string) (string, error) {
	candidates := []string{
		filepath.Join(dir, name+"-"+version+".tgz"),
		filepath.Join(dir, name),
	}
	if name == IstiodChart {
		candidates = append(candidates, filepath.Join(dir, "istio-control", "istio-discovery"))
	}
	if name == CNIChart {
		candidates = append(candidates, filepath.Join(dir, "istio-cni"))
	}
	for _, c := range candidates {
		info, err := os.Stat(c)
		if err != nil {
			continue
		}
		if info.IsDir() {
			if _, err := os.Stat(filepath.Join(c, "Chart.yaml")); err != nil {
				continue
			}
		}
		return c, nil
	}
	rel := make([]string, len(candidates))
	for i, c := range candidates {
		rel[i], _ = filepath.Rel(dir, c)
	}
	return "", fmt.Errorf("istio %s: no %s chart in %s (looked for %s); fetch it with: helm pull istio/%s --version %s", version, name, dir, strings.Join(rel, ", "), name, version)
}

// BaseValues are the base chart's values: the Istio namespace, and for a canary-only install the
// revision whose istiod validates Istio resources by default.
func (in *Installer) BaseValues() map[string]any {
	v := map[string]any{"global": map[string]any{"istioNamespace": in.opts.Namespace}}
	if in.opts.Revision != "" {
		v["defaultRevision"] = in.opts.Revision
	}
	return v
}

// IstiodValues are the istiod chart's values: namespace, revision, the hub/tag overrides
// (global.hub and global.tag: the image is "{hub}/pilot:{tag}", istio-discovery
// templates/deployment.yaml), the resource requests, then Options.Values merged over them.
//
// The requests go where Istio's demo profile puts them (istio-discovery files/profile-demo.yaml):
// pilot.resources.requests, which the chart copies to .Values.resources for istiod's container
// (templates/zzy_descope_legacy.yaml, deployment.yaml), and global.proxy.resources.requests, which
// the injector puts on every istio-proxy (files/injection-template.yaml "resources"; the chart's
// limits stay).
func (in *Installer) IstiodValues() map[string]any {
	r := in.opts.Requests
	requests := func(cpu, memory string) map[string]any {
		return map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": cpu, "memory": memory}}}
	}
	global := map[string]any{"istioNamespace": in.opts.Namespace, "proxy": requests(r.ProxyCPU, r.ProxyMemory)}
	if in.opts.Hub != "" {
		global["hub"] = in.opts.Hub
	}
	if in.opts.Tag != "" {
		global["tag"] = in.opts.Tag
	}
	v := map[string]any{"global": global, "pilot": requests(r.IstiodCPU, r.IstiodMemory)}
	if in.opts.Revision != "" {
		v["revision"] = in.opts.Revision
	}
	return loader.MergeMaps(v, in.opts.Values)
}
