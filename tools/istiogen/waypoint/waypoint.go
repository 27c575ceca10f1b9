// Package waypoint runs Istio's own listener generation for an ambient waypoint on the fixture
// topology, to pin down what the waypoint XFCC scenario rests on: a waypoint whose Gateway
// carries ambient.istio.io/xfcc-include-client-identity: "true".
//
// In Istio 1.31.0 (pilot/pkg/networking/core/listener_waypoint.go) the annotation is read from
// the proxy's node metadata (xfccIncludeClientIdentityEnabled, case-insensitive "true"). It gets
// there from the Gateway: the deployment controller copies the Gateway's annotations onto the
// waypoint's pod template (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go
// extractInfrastructureAnnotations, falling back to the Gateway's own annotations when
// spec.infrastructure.annotations is unset; manifests/charts/istio-control/istio-discovery/files/waypoint.yaml),
// and the agent reads the pod's annotations from the downward API file into node metadata
// (pkg/bootstrap/config.go, constants.PodInfoAnnotationsPath). With it, every HTTP connection
// manager the waypoint builds for a Service (the main_internal listener, buildWaypointInboundHTTPFilters)
// starts with the header_mutation filter istio.waypoint.xfcc_client_identity
// (pilot/pkg/xds/filters/filters.go WaypointXFCCClientIdentityFilter) and forwards XFCC with
// ALWAYS_FORWARD_ONLY; without it, the filter is absent and ForwardClientCertDetails is left
// unset, which is Envoy's SANITIZE (enum value 0): the server sees no XFCC at all.
//
// For a probe this means: a client in namespace <client ns> with service account <client sa>
// calling httpbin.foo through such a waypoint makes the server see
//
//	x-forwarded-client-cert: By=spiffe://<td>/ns/foo/sa/waypoint;URI=spiffe://<td>/ns/<client ns>/sa/<client sa>
//
// By is the waypoint's own identity (filter state io.istio.local_principal) and URI the client's
// identity ztunnel vouched for over HBONE (io.istio.peer_principal), any XFCC the client sent
// being overwritten (OVERWRITE_IF_EXISTS_OR_ADD). The waypoint's service account is named after
// its Gateway, "waypoint": the deployment controller's TemplateInput.ServiceAccount is the
// gateway.istio.io/service-account annotation or else GetDefaultName (deploymentcontroller.go),
// which is the Gateway's name without a class suffix for istio-waypoint (gatewaycommon/classinfo.go:
// DisableNameSuffix for ManagedGatewayMeshController; gateway_utils.go GetDefaultName), and the
// template runs the pod as serviceAccountName: {{.ServiceAccount | quote}} (waypoint.yaml).
package waypoint

import (
	"fmt"
	"maps"
	"net/netip"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"istio.io/api/annotation"
	"istio.io/api/label"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/test"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/fixtures/gatewayapi"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/tools/istiogen/harness"
)

func init() {
	// As tools/istiogen/ambient: set once for the package, not per test (Istio's
	// pilot/pkg/xds/workload_test.go init).
	features.EnableAmbient = true
}

const (
	// XFCCClientIdentityAnnotation is listener_waypoint.go xfccClientIdentityAnnotation, as the
	// catalog's waypoints spell it.
	XFCCClientIdentityAnnotation = scenarios.XFCCClientIdentityAnnotation

	// Name is the Gateway's name, and so its Service's, pod's and service account's.
	Name = scenarios.WaypointName
	// Class is Istio's waypoint GatewayClass, served by the mesh controller: the suite's
	// (TestWaypointClassIsIstios).
	Class = gatewayapi.WaypointClass
	// HBONEPort is the waypoint's only listener (Istio's waypoint Gateway: listener mesh, HBONE).
	HBONEPort = 15008
)

// Served is the fixture Service the waypoint serves here.
var Served = fixtures.Ref{Name: "httpbin", Namespace: "foo"}

// AddressesAt are the pod IP and cluster IP of the i-th waypoint of a world (0 to 255):
// 10.250.<i>.10 and 10.251.<i>.10, outside the ranges harness.NewWorld gives fixture pods
// (10.244/16) and Services (10.96/16 by namespace index), so nothing collides.
func AddressesAt(i int) (podIP, clusterIP netip.Addr) {
	return netip.AddrFrom4([4]byte{10, 250, byte(i), 10}), netip.AddrFrom4([4]byte{10, 251, byte(i), 10})
}

// Generated is what Istio generated for the waypoint.
type Generated struct {
	Topology  *fixtures.Topology
	Listeners []*listener.Listener
}

// Listeners starts Istio's fake discovery server on the ambient fixture world plus a waypoint
// in Served's namespace (Gateway with gatewayAnnotations, and the GatewayClass, Service,
// service account, running pod and EndpointSlice the deployment controller and Kubernetes would
// add), Served labelled istio.io/use-waypoint=waypoint, and asks for the listeners as the
// waypoint proxy does: an ADS connection whose node metadata carries the pod's annotations.
//
// Pods are not annotated as redirected by the CNI agent: the waypoint's listeners are built per
// Service that uses it (listener_waypoint.go buildWaypointInternal over findWaypointResources),
// redirection changes only endpoints (connect_originate).
//
// configs go to the config store as they are (Istio policies bound to the waypoint).
func Listeners(t test.Failer, gatewayAnnotations map[string]string, configs ...config.Config) (*Generated, error) {
	topo, err := fixtures.LoadFor(fixtures.Variant{Ambient: true})
	if err != nil {
		return nil, err
	}
	ns, ok := topo.Namespace(Served.Namespace)
	if !ok || !ns.Enrolled() {
		return nil, fmt.Errorf("waypoint: namespace %s is not an enrolled fixture namespace", Served.Namespace)
	}
	if _, ok := topo.Service(Served); !ok {
		return nil, fmt.Errorf("waypoint: no fixture Service %s", Served)
	}
	world, err := harness.NewWorld(topo, map[string]bool{}) // ambient: no sidecars
	if err != nil {
		return nil, err
	}
	objects := make([]runtime.Object, 0, len(world.Objects)+6)
	for _, o := range world.Objects {
		if s, ok := o.(*corev1.Service); ok && s.Name == Served.Name && s.Namespace == Served.Namespace {
			s = s.DeepCopy()
			if s.Labels == nil {
				s.Labels = map[string]string{}
			}
			s.Labels[label.IoIstioUseWaypoint.Name] = Name
			o = s
		}
		objects = append(objects, o)
	}
	podIP, clusterIP := AddressesAt(0)
	objects = append(objects, GatewayClass())
	objects = append(objects, Objects(Served.Namespace, gatewayAnnotations, podIP, clusterIP)...)

	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{KubernetesObjects: objects, Configs: configs})
	// The node ID's type, IP and namespace are how istiod knows a waypoint and finds its pod and
	// Service (model.ParseServiceNodeWithMetadata); labels and annotations come from metadata as
	// the agent sends them.
	id := fmt.Sprintf("%s~%s~%s-0.%s~%s.svc.cluster.local", model.Waypoint, podIP, Name, Served.Namespace, Served.Namespace)
	ads := s.ConnectADS().WithType(v3.ListenerType).WithID(id).WithTimeout(10 * time.Second).
		WithMetadata(model.NodeMetadata{
			Namespace:   Served.Namespace,
			Labels:      podLabels(),
			Annotations: maps.Clone(gatewayAnnotations),
		})
	resp := ads.RequestResponseAck(t, &discovery.DiscoveryRequest{})
	out := &Generated{Topology: topo}
	for _, r := range resp.Resources {
		l := &listener.Listener{}
		if err := r.UnmarshalTo(l); err != nil {
			return nil, fmt.Errorf("waypoint: listener: %w", err)
		}
		out.Listeners = append(out.Listeners, l)
	}
	return out, nil
}

// podLabels are the labels the waypoint template gives the pod (waypoint.yaml: the Gateway's
// name and the managing controller, and istio.io/dataplane-mode "none": the CNI agent does not
// redirect a waypoint's own traffic through ztunnel).
func podLabels() map[string]string {
	return map[string]string{
		label.IoK8sNetworkingGatewayGatewayName.Name: Name,
		label.GatewayManaged.Name:                    constants.ManagedGatewayMeshControllerLabel,
		label.IoIstioDataplaneMode.Name:              constants.DataplaneModeNone,
	}
}

// Objects is the waypoint of namespace ns as a cluster holds it once its deployment is ready:
// the Gateway (with annotations) and its status address (the ambient index ignores a Gateway
// without one, pilot/pkg/serviceregistry/ambient/waypoints.go gatewayToWaypointTransform), and
// what the deployment controller renders from waypoint.yaml with the Gateway's
// annotations copied onto the pod; the pod at podIP, the Service at clusterIP (AddressesAt).
// Both tools/istiogen/waypoint and tools/istiogen/ambient deploy waypoints with it.
func Objects(ns string, annotations map[string]string, podIP, clusterIP netip.Addr) []runtime.Object {
	hostname := fixtures.Hostname(fixtures.Ref{Name: Name, Namespace: ns})
	// The Gateway the suite deploys, with the address istiod's status would give it.
	gw := gatewayapi.Waypoint(Name, ns, annotations)
	gw.Status = gatewayv1.GatewayStatus{
		Addresses: []gatewayv1.GatewayStatusAddress{{Type: ptr(gatewayv1.HostnameAddressType), Value: hostname}},
	}
	labels := podLabels()
	selector := map[string]string{label.IoK8sNetworkingGatewayGatewayName.Name: Name}
	// The template's Service prefers close endpoints (waypoint.yaml), which istiod sends ztunnel
	// as failover load balancing.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns, Labels: map[string]string{
			label.IoK8sNetworkingGatewayGatewayName.Name:      Name,
			label.IoK8sNetworkingGatewayGatewayClassName.Name: Class,
		},
			Annotations: map[string]string{annotation.NetworkingTrafficDistribution.Name: "PreferClose"}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP.String(), ClusterIPs: []string{clusterIP.String()},
			Selector: selector,
			Ports: []corev1.ServicePort{{
				// TargetPort as the apiserver defaults it (the port itself).
				Name: "mesh", Port: HBONEPort, TargetPort: intstr.FromInt32(HBONEPort), AppProtocol: ptr("hbone"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: Name + "-0", Namespace: ns, Labels: labels, Annotations: maps.Clone(annotations)},
		Spec: corev1.PodSpec{
			ServiceAccountName: Name,
			NodeName:           "fixture-node",
			Containers:         []corev1.Container{{Name: "istio-proxy", Image: "proxyv2"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: podIP.String(), PodIPs: []corev1.PodIP{{IP: podIP.String()}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
	return []runtime.Object{gw, svc, sa, pod, endpointSlice(svc, pod)}
}

// GatewayClass is Istio's waypoint class, once per world (cluster-scoped) alongside any number
// of Objects.
func GatewayClass() runtime.Object {
	return &gatewayv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: Class},
		Spec:       gatewayv1.GatewayClassSpec{ControllerName: constants.ManagedGatewayMeshController},
	}
}

// endpointSlice is what Kubernetes' endpoint controller writes for the waypoint's Service.
func endpointSlice(svc *corev1.Service, pod *corev1.Pod) *discoveryv1.EndpointSlice {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: svc.Name + "-fixture", Namespace: svc.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{pod.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: pod.Namespace},
		}},
	}
	for _, p := range svc.Spec.Ports {
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{
			Name: ptr(p.Name), Port: ptr(p.Port), Protocol: ptr(p.Protocol), AppProtocol: p.AppProtocol,
		})
	}
	return slice
}

func ptr[T any](v T) *T { return &v }
