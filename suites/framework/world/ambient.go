package world

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"istio.io/api/annotation"
	"istio.io/api/label"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// DataplaneLabel is the Ginkgo label every scenario spec carries: dataplane:sidecar or
// dataplane:ambient (LABEL_FILTER=dataplane:ambient).
func DataplaneLabel(s settings.Settings) string { return "dataplane:" + s.Dataplane }

// DataplaneSkip is why a scenario does not run on this run's data plane: on sidecars the
// file's sidecar: skip reason (a waypoint scenario), else nil; in ambient the file's ambient:
// skip reason, or that it gives no ambient outcome.
func DataplaneSkip(s settings.Settings, sc *scenarios.Scenario) error {
	if !s.Ambient() {
		if sc.SidecarSkip != "" {
			return errors.New("sidecar: " + sc.SidecarSkip)
		}
		return nil
	}
	switch {
	case sc.Ambient == nil:
		return errors.New("ambient: the scenario file gives no ambient outcome (no ambient: block)")
	case sc.Ambient.Skip != "":
		return errors.New("ambient: " + sc.Ambient.Skip)
	}
	return nil
}

// ambientExpectations are step i's expectations on the ambient data plane: the scenario's
// ambient: block, written for foo and bar enrolled — the run's ambient fixtures, the only ones
// settings allow (INJECT is rejected); for a scenario skipped in ambient, the oracle's ambient
// prediction for the namespaces the run's topology enrols at that step (State.Enrolled; it
// injects none), which only names its specs (they are skipped with DataplaneSkip's reason).
func ambientExpectations(s settings.Settings, sc *scenarios.Scenario, i int) ([]scenarios.ProbeOutcome, error) {
	if DataplaneSkip(s, sc) == nil {
		return scenarios.WithTrustDomain(sc.Ambient.Expect[i], s.TrustDomain), nil
	}
	topo, err := RunTopology(s)
	if err != nil {
		return nil, err
	}
	st := sc.StateAt(topo, i)
	return oracle.PredictAmbient(oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Enrolled, TrustDomain: s.TrustDomain})
}

// CheckCharts fetches and loads every chart a run with settings s installs, before any cluster
// exists: base and istiod, and for DATAPLANE=ambient the cni and ztunnel charts too.
func CheckCharts(s settings.Settings, out io.Writer) error {
	opts := IstioOptions(s, out)
	if err := istio.CheckCharts(opts); err != nil {
		return err
	}
	if !s.Ambient() {
		return nil
	}
	return istio.CheckAmbientCharts(opts)
}

// ambientInstaller is what installAmbient needs of istio.Installer.
type ambientInstaller interface {
	InstallAmbient(ctx context.Context) error
	WaitAmbientReady(ctx context.Context) error
}

// installAmbient installs the ambient data plane after istiod (which setupIstio installed with
// the ambient profile, IstioOptions), as Istio's ambient Helm install orders it, and waits until
// istio-cni and ztunnel run on every node: before that an enrolled pod's traffic is not carried
// by ztunnel and a probe would judge plaintext. Nothing for a sidecar run.
func (w *World) installAmbient(ctx context.Context, inst ambientInstaller) error {
	if !w.Settings.Ambient() {
		return nil
	}
	// Set before: Helm leaves what it created when an install fails, and Teardown removes it.
	w.installedAmbient = true
	w.ztunnelDaemonSet = types.NamespacedName{Namespace: w.istioOptions().Namespace, Name: istio.ZtunnelDaemonSet}
	if err := inst.InstallAmbient(ctx); err != nil {
		return err
	}
	return inst.WaitAmbientReady(ctx)
}

// checkAmbientInstalled holds an Istio the run did not install to DATAPLANE=ambient: a ztunnel
// DaemonSet, ready on every node it should run on (mesh.DaemonSetPending), in the namespace of
// one of the cluster's istiods, found as the ztunnel chart names and labels it (its resourceName,
// default "ztunnel", labelled app.kubernetes.io/name=ztunnel: manifests/charts/ztunnel
// templates/daemonset.yaml). Without it the fixtures' ambient label enrols nothing and the run
// would judge an unmeshed cluster by ambient rules. istio-cni is not looked for: platforms
// install it in other namespaces (kube-system), and ztunnel does not become ready without the
// istiod ambient configuration it needs.
func (w *World) checkAmbientInstalled(ctx context.Context, found *cluster.IstioInstallation) error {
	if !w.Settings.Ambient() {
		return nil
	}
	kube, err := kubernetes.NewForConfig(w.Config)
	if err != nil {
		return err
	}
	var namespaces []string
	for _, d := range found.Istiods {
		if !slices.Contains(namespaces, d.Namespace) {
			namespaces = append(namespaces, d.Namespace)
		}
	}
	for _, ns := range namespaces {
		list, err := kube.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("DATAPLANE=ambient: listing DaemonSets in %s: %w", ns, err)
		}
		for i := range list.Items {
			ds := &list.Items[i]
			if ds.Labels[istio.NameLabel] != istio.ZtunnelChart && ds.Name != istio.ZtunnelDaemonSet {
				continue
			}
			if reason := mesh.DaemonSetPending(ds); reason != "" {
				return fmt.Errorf("DATAPLANE=ambient: ztunnel DaemonSet %s/%s is not ready (%s): the ambient data plane must run on every node before the run probes it", ds.Namespace, ds.Name, reason)
			}
			w.ztunnelDaemonSet = types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}
			return nil
		}
	}
	return fmt.Errorf("DATAPLANE=ambient: no ztunnel DaemonSet (%s=%s, or named %s) in %s, the namespace of istiod: install the ambient data plane (Istio's cni and ztunnel charts, profile=ambient) or run with DATAPLANE=sidecar", istio.NameLabel, istio.ZtunnelChart, istio.ZtunnelDaemonSet, strings.Join(namespaces, ", "))
}

// ambientBaseline is the baseline on the ambient data plane: no policy, the run's enrolled
// namespaces (foo and bar) HBONE to each other and plaintext everywhere else.
func (w *World) ambientBaseline() ([]scenarios.ProbeOutcome, error) {
	st := BaselineState(w.Topology)
	return oracle.PredictAmbient(oracle.Input{Topology: w.Topology, Injected: st.Enrolled, TrustDomain: w.Settings.TrustDomain})
}

// RedirectionEnabled is the value the istio-cni node agent writes in a pod's
// ambient.istio.io/redirection annotation (istio.io/api annotation.AmbientRedirection) once the
// pod's traffic is redirected to its node's ztunnel (istio cni/pkg/util/podutil.go
// PodFullyEnrolled; pkg/config/constants AmbientRedirectionEnabled).
const RedirectionEnabled = "enabled"

// awaitEnrolled waits, for as long as a probe may take to converge, until every pod of the
// namespaces the run enrols says it is captured by ztunnel. A probe cannot tell: an enrolled pair
// answers 200 without XFCC whether HBONE carries it or not, so a pod the node agent never
// captured would pass as HBONE. Nothing for a sidecar run.
func (w *World) awaitEnrolled(ctx context.Context) error {
	if !w.Settings.Ambient() {
		return nil
	}
	return w.awaitCapture(ctx, w.Topology.EnrolledNamespaces(), true)
}

// awaitCapture waits, for as long as a probe may take to converge, until every running pod of
// namespaces is captured by ztunnel (captured) or released by it (!captured): the istio-cni node
// agent writes ambient.istio.io/redirection=enabled once it has redirected a pod's traffic to its
// node's ztunnel and removes it when the pod leaves the mesh (istio cni/pkg/util/podutil.go
// AnnotateEnrolledPod, AnnotateUnenrollPod).
func (w *World) awaitCapture(ctx context.Context, namespaces []string, captured bool) error {
	kube, err := kubernetes.NewForConfig(w.Config)
	if err != nil {
		return err
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, time.Second, w.Settings.Timeout, true, func(ctx context.Context) (bool, error) {
		reason, err := captureMismatch(ctx, kube, namespaces, captured)
		switch {
		case err == nil:
			last = reason
		case last == "":
			// A failed read says less than a pod seen in the wrong state before (near the
			// deadline client-go's rate limiter refuses to wait: that is no news about the pods).
			last = err.Error()
		}
		return err == nil && reason == "", nil
	})
	if err == nil || last == "" {
		return err
	}
	if captured {
		return fmt.Errorf("DATAPLANE=ambient: the enrolled pods are not captured by ztunnel after %s: %s, want %q (the istio-cni node agent writes it once the pod's traffic goes to its node's ztunnel; is istio-cni running on that node?)", w.Settings.Timeout, last, RedirectionEnabled)
	}
	return fmt.Errorf("DATAPLANE=ambient: pods of a namespace taken out of the mesh are still captured by ztunnel after %s: %s (the istio-cni node agent removes it once it has released the pod; is istio-cni running on that node?)", w.Settings.Timeout, last)
}

// captureMismatch names the first pod of namespaces (not being deleted, not finished, not a
// waypoint's) whose capture is not the wanted one; "" when there is none. Captured is the annotation's "enabled";
// released is its absence: "pending" (the pod's redirection is set up but it has not reached a
// ztunnel yet, and must still be undone to leave: istio cni/pkg/util/podutil.go
// PodPartiallyEnrolled) is neither, and is waited out.
func captureMismatch(ctx context.Context, kube kubernetes.Interface, namespaces []string, captured bool) (string, error) {
	for _, ns := range namespaces {
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", fmt.Errorf("listing pods in %s: %w", ns, err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			if _, waypoint := p.Labels[label.IoK8sNetworkingGatewayGatewayName.Name]; waypoint {
				// A waypoint's pod is never captured: istiod labels it istio.io/dataplane-mode=none
				// (istio-discovery files/waypoint.yaml).
				continue
			}
			got, annotated := p.Annotations[annotation.AmbientRedirection.Name]
			if (captured && got != RedirectionEnabled) || (!captured && annotated) {
				return fmt.Sprintf("pod %s/%s has %s=%q", ns, p.Name, annotation.AmbientRedirection.Name, got), nil
			}
		}
	}
	return "", nil
}
