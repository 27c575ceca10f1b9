package istio

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// The DaemonSets the cni and ztunnel charts render with their default values, in the release
// namespace: istio-cni's "{{ template "name" . }}-node" (manifests/charts/istio-cni
// templates/daemonset.yaml, name "istio-cni") and ztunnel's resourceName, default "ztunnel"
// (manifests/charts/ztunnel templates/daemonset.yaml, _helpers.tpl ztunnel.release-name). Both
// label it app.kubernetes.io/name=<istio-cni|ztunnel>.
const (
	CNIDaemonSet     = "istio-cni-node"
	ZtunnelDaemonSet = "ztunnel"
	// NameLabel is the label the charts put on those DaemonSets (and ztunnel's on its pods).
	NameLabel = "app.kubernetes.io/name"
)

// CheckAmbientCharts is CheckCharts for the ambient data plane's cni and ztunnel charts: run it
// before creating a cluster, so that a chart missing from the repository (or from an
// --istio-charts directory) fails the run before anything exists.
func CheckAmbientCharts(opts Options) error { return checkCharts(opts, CNIChart, ZtunnelChart) }

// WaitAmbientReady waits until the istio-cni node agent and ztunnel run, ready, on every node
// that should run them (mesh.DaemonSetPending): before that, an enrolled pod's traffic is not
// redirected to a ztunnel yet and a probe would observe plaintext where the mesh asserts HBONE.
// It needs nodes that run the pods, so it is for a real cluster only (the envtest tier has no
// kubelet, and no ztunnel binary is reachable here: see README, Ambient mode).
func (in *Installer) WaitAmbientReady(ctx context.Context) error {
	err := pollUntil(ctx, in.pollEvery, in.opts.ReadyTimeout, func(ctx context.Context) (bool, string, error) {
		var pending []string
		for _, name := range []string{CNIDaemonSet, ZtunnelDaemonSet} {
			ds, err := in.kube.AppsV1().DaemonSets(in.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				pending = append(pending, "DaemonSet "+name+": "+err.Error())
				continue
			}
			if reason := mesh.DaemonSetPending(ds); reason != "" {
				pending = append(pending, "DaemonSet "+name+": "+reason)
			}
		}
		return len(pending) == 0, strings.Join(pending, "; "), nil
	})
	if err != nil {
		return fmt.Errorf("istio %s: the ambient data plane in %s is not ready: %w", in.opts.Version, in.opts.Namespace, err)
	}
	in.logf("istio-cni and ztunnel in %s run on every node", in.opts.Namespace)
	return nil
}
