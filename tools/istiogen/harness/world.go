// Package harness runs Istio's own config generator (istio.io/istio pilot/test/xds, the fake
// discovery server Istio's unit tests use) on the fixture topology and a set of policies, and
// reads what it generates with the project's authcheck engine. It is the independent check of
// the oracle: the oracle encodes Istio's rules by hand, this asks Istio's code.
package harness

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// Labels Istio's injector puts on a pod it injects; security.istio.io/tlsMode=istio is what
// marks the pod's endpoints for auto mTLS (istio/istio
// manifests/charts/istio-control/istio-discovery/files/injection-template.yaml;
// pilot/pkg/model/service.go GetTLSModeFromEndpointLabels).
const (
	tlsModeLabel     = "security.istio.io/tlsMode"
	tlsModeIstio     = "istio"
	canonicalName    = "service.istio.io/canonical-name"
	canonicalVersion = "service.istio.io/canonical-revision"
)

// World is the fixture topology as Kubernetes objects, with the addresses a real cluster
// would assign.
type World struct {
	Topology *fixtures.Topology
	Injected map[string]bool
	// PodIPs and PodNames of every fixture workload (one pod each).
	PodIPs   map[fixtures.Ref]netip.Addr
	PodNames map[fixtures.Ref]string
	Objects  []runtime.Object
}

// NewWorld renders the topology: namespaces, service accounts, one running pod per workload
// (with the injector's labels when its namespace is injected), Services with cluster IPs, and
// the EndpointSlices Kubernetes' endpoint controller would write for them. Per-port inbound
// filter chains exist only for ports of Services whose endpoints are the proxy's own pod
// (istio/istio pilot/pkg/networking/core/listener_inbound.go buildInboundChainConfigs walks
// the proxy's ServiceTargets), so the Services and endpoints are not optional.
func NewWorld(topo *fixtures.Topology, injected map[string]bool) (*World, error) {
	w := &World{Topology: topo, Injected: maps.Clone(injected),
		PodIPs: map[fixtures.Ref]netip.Addr{}, PodNames: map[fixtures.Ref]string{}}
	nsIndex := map[string]int{}
	for i, ns := range topo.Namespaces {
		nsIndex[ns.Name] = i
		w.Objects = append(w.Objects, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: maps.Clone(ns.Labels)},
		})
	}
	workloads := append(append([]fixtures.Workload{}, topo.Clients...), topo.Servers...)
	sort.SliceStable(workloads, func(i, j int) bool { return workloads[i].Ref.String() < workloads[j].Ref.String() })
	seenSA := map[string]bool{}
	perNS := map[string]int{}
	for _, wl := range workloads {
		i, ok := nsIndex[wl.Namespace]
		if !ok {
			return nil, fmt.Errorf("workload %s: namespace %s is not in the topology", wl.Ref, wl.Namespace)
		}
		perNS[wl.Namespace]++
		ip := netip.AddrFrom4([4]byte{10, 244, byte(i + 1), byte(10 + perNS[wl.Namespace])})
		w.PodIPs[wl.Ref] = ip
		name := wl.Name + "-0"
		w.PodNames[wl.Ref] = name
		if key := wl.Namespace + "/" + wl.ServiceAccount; !seenSA[key] {
			seenSA[key] = true
			w.Objects = append(w.Objects, &corev1.ServiceAccount{
				ObjectMeta: metav1.ObjectMeta{Name: wl.ServiceAccount, Namespace: wl.Namespace},
			})
		}
		w.Objects = append(w.Objects, w.pod(wl, name, ip))
	}
	for si, svc := range topo.Services {
		i := nsIndex[svc.Namespace]
		clusterIP := netip.AddrFrom4([4]byte{10, 96, byte(i + 1), byte(10 + si)})
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace},
			Spec: corev1.ServiceSpec{
				Type:       corev1.ServiceTypeClusterIP,
				ClusterIP:  clusterIP.String(),
				ClusterIPs: []string{clusterIP.String()},
				Selector:   maps.Clone(svc.Selector),
			},
		}
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name: svc.Name + "-fixture", Namespace: svc.Namespace,
				Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
		for _, p := range svc.Ports {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{
				Name: p.Name, Port: int32(p.Port), TargetPort: intstr.FromInt32(int32(p.TargetPort)), Protocol: corev1.ProtocolTCP,
			})
			slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{
				Name: ptr(p.Name), Port: ptr(int32(p.TargetPort)), Protocol: ptr(corev1.ProtocolTCP),
			})
		}
		for _, wl := range topo.ServiceWorkloads(svc) {
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{w.PodIPs[wl.Ref].String()},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: w.PodNames[wl.Ref], Namespace: wl.Namespace},
			})
		}
		w.Objects = append(w.Objects, s, slice)
	}
	return w, nil
}

func (w *World) pod(wl fixtures.Workload, name string, ip netip.Addr) *corev1.Pod {
	labels := maps.Clone(wl.PodLabels)
	if w.Injected[wl.Namespace] {
		labels = injectedLabels(wl)
	}
	c := corev1.Container{Name: wl.Container, Image: "fixture"}
	for _, p := range wl.ContainerPorts {
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: int32(p), Protocol: corev1.ProtocolTCP})
	}
	containers := []corev1.Container{c}
	if w.Injected[wl.Namespace] {
		containers = append(containers, corev1.Container{Name: "istio-proxy", Image: "proxyv2"})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: wl.Namespace, Labels: labels},
		Spec: corev1.PodSpec{
			ServiceAccountName: wl.ServiceAccount,
			NodeName:           "fixture-node",
			Containers:         containers,
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIP:  ip.String(),
			PodIPs: []corev1.PodIP{{IP: ip.String()}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
		},
	}
}

// injectedLabels are the pod's labels after injection: tlsMode istio, and the canonical name
// and revision taken from the app and version labels as the injection template does.
func injectedLabels(wl fixtures.Workload) map[string]string {
	labels := maps.Clone(wl.PodLabels)
	labels[tlsModeLabel] = tlsModeIstio
	labels[canonicalName] = cmp.Or(wl.PodLabels["app"], wl.Name)
	labels[canonicalVersion] = cmp.Or(wl.PodLabels["version"], "latest")
	return labels
}

func ptr[T any](v T) *T { return &v }
