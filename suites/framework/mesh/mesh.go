// Package mesh is the engine's shared vocabulary: the names Istio gives what the suite reads in a
// cluster (the sidecar container, the injection and revision labels, pilot-agent's config-dump
// request), the labels the suite puts on everything it creates, and when a pod or a Deployment
// counts as ready. Each is spelled here once; every engine package reads it from here.
package mesh

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// SidecarContainer is the container Istio's injector adds, as a regular container or, with native
// sidecars, as an init container (istio/istio manifests/charts/istio-control/istio-discovery/
// files/injection-template.yaml).
const SidecarContainer = "istio-proxy"

// ConfigDumpCommand asks a sidecar's Envoy admin API for its config dump through pilot-agent,
// which is in every istio-proxy image and proxies to Envoy's admin port inside the pod, so
// nothing needs a port-forward (istio/istio pilot/cmd/pilot-agent/app/request.go, "request
// <method> <path>"; istioctl proxy-config uses the same). With endpoints the dump includes EDS
// (?include_eds): the engine needs it, since auto mTLS decides per endpoint; a failed probe's
// diagnostics keep the plain dump.
func ConfigDumpCommand(endpoints bool) []string {
	path := "config_dump"
	if endpoints {
		path += "?include_eds"
	}
	return []string{"pilot-agent", "request", "GET", path}
}

// Injection labels and the pod label the injector's webhooks select on (istio-discovery
// templates/mutatingwebhook.yaml).
const (
	InjectionLabel    = fixtures.InjectionLabel // istio-injection, on a namespace
	RevisionLabel     = "istio.io/rev"
	PodInjectionLabel = "sidecar.istio.io/inject"
	// DefaultRevision is the revision of an istiod installed without one.
	DefaultRevision = "default"
)

// Labels on everything the suite creates. Cleanup selects on ManagedByLabel only; the run id
// says which run created an object.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "mtls-conformance"
	RunIDLabel     = "mtls-conformance.io/run-id"
	// FieldManager owns the suite's fields in server-side apply.
	FieldManager = "mtls-conformance"
	// ManagedSelector selects every object any run of the suite created.
	ManagedSelector = ManagedByLabel + "=" + ManagedByValue
)

// HasSidecar reports whether the pod has Istio's proxy: a container named istio-proxy, or with
// native sidecars (Kubernetes 1.29+, ENABLE_NATIVE_SIDECARS) an init container of that name
// with restartPolicy Always (injection-template.yaml: `{{ if $nativeSidecar }}restartPolicy:
// Always{{end}}`).
func HasSidecar(pod *corev1.Pod) bool { return sidecar(pod) != nil }

// ProxyImage is the image of the pod's istio-proxy (as HasSidecar finds it); "" without one.
func ProxyImage(pod *corev1.Pod) string {
	if c := sidecar(pod); c != nil {
		return c.Image
	}
	return ""
}

func sidecar(pod *corev1.Pod) *corev1.Container {
	for i, c := range pod.Spec.Containers {
		if c.Name == SidecarContainer {
			return &pod.Spec.Containers[i]
		}
	}
	for i, c := range pod.Spec.InitContainers {
		if c.Name == SidecarContainer && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// PodReady reports the pod's Ready condition, which covers every container, the sidecar
// included: a probe through a sidecar that is not ready yet would observe startup, not policy.
func PodReady(pod *corev1.Pod) bool {
	conds := pod.Status.Conditions
	i := slices.IndexFunc(conds, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady })
	return i >= 0 && conds[i].Status == corev1.ConditionTrue
}

// PodLive reports whether the pod runs and is not being deleted: the one a read of a workload's
// (or a node's) proxy should reach, not one leaving or not started.
func PodLive(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning
}

// DeploymentAvailable reports the Deployment's Available condition.
func DeploymentAvailable(d *appsv1.Deployment) bool {
	conds := d.Status.Conditions
	i := slices.IndexFunc(conds, func(c appsv1.DeploymentCondition) bool { return c.Type == appsv1.DeploymentAvailable })
	return i >= 0 && conds[i].Status == corev1.ConditionTrue
}

// NodeReady reports the node's Ready condition.
func NodeReady(n *corev1.Node) bool {
	conds := n.Status.Conditions
	i := slices.IndexFunc(conds, func(c corev1.NodeCondition) bool { return c.Type == corev1.NodeReady })
	return i >= 0 && conds[i].Status == corev1.ConditionTrue
}
