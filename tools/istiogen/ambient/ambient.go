// Package ambient runs Istio's own ambient control plane code on the fixture topology: the
// ambient index (pilot/pkg/serviceregistry/ambient: PeerAuthentication → ztunnel authorization
// conversion, workload building) behind the WDS generators ztunnel connects to
// (pilot/pkg/xds/workload.go WorkloadGenerator for istio.workload.Address, WorkloadRBACGenerator
// for istio.security.Authorization). What a ztunnel would receive is written as ztunnel's config
// dump and judged by the project's engine (suites/framework/ztunnel), the same reading a live
// ztunnel's dump gets; tools/istiogen/ambient's tests compare it with the oracle's ambient rules.
package ambient

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"istio.io/api/annotation"
	"istio.io/api/label"
	securityclient "istio.io/client-go/pkg/apis/security/v1"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/test"
	"istio.io/istio/pkg/workloadapi"
	"istio.io/istio/pkg/workloadapi/security"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/ztunnel"
	"github.com/mtls-conformance/mtls-conformance/tools/istiogen/harness"
	"github.com/mtls-conformance/mtls-conformance/tools/istiogen/waypoint"
)

func init() {
	// Istio's own WDS tests set this once for the package (pilot/pkg/xds/workload_test.go init):
	// per test, it races with servers of earlier tests still shutting down.
	features.EnableAmbient = true
}

// Generated is what Istio's ambient control plane produced for one set of policies.
type Generated struct {
	World *harness.World
	// WaypointXFCC says, for each waypoint's namespace, whether the waypoint writes XFCC
	// (waypoint.WritesXFCC on its Gateway's annotations).
	WaypointXFCC map[string]bool
	// Addresses and Policies are the WDS resources a ztunnel receives.
	Addresses []*workloadapi.Address
	Policies  []*security.Authorization
	// Raw is them as ztunnel's config dump; Dump is Raw read back by the engine.
	Raw  []byte
	Dump *ztunnel.Dump
}

// Generate starts Istio's fake discovery server with ambient enabled: the fixture world with
// the enrolled namespaces (in.Injected, nil: the topology's) labelled istio.io/dataplane-mode=ambient
// and their pods annotated ambient.istio.io/redirection=enabled as the CNI node agent does once
// it has redirected them (the annotation istiod reads, workloads.go setTunnelProtocol), and the
// PeerAuthentications created in the Kubernetes API one second apart (the ambient index reads
// them from there, not from the config store). DestinationRules go to the config store: if
// istiod used them for ztunnel, they would show in what it sends. Each of in.Waypoints is
// deployed in its namespace (waypoint.Objects, the i-th in namespace order at
// waypoint.AddressesAt(i), the Gateway annotated ambient.istio.io/xfcc-include-client-identity
// "true" when XFCCClientIdentity) and its namespace labelled istio.io/use-waypoint=waypoint,
// what `istioctl waypoint apply -n NS --enroll-namespace` does (istioctl/pkg/waypoint
// waypoint.go labelNamespaceWithWaypoint).
func Generate(t test.Failer, in oracle.Input) (*Generated, error) {
	if in.Topology == nil {
		return nil, fmt.Errorf("ambient: no topology")
	}
	enrolled := in.Injected
	if enrolled == nil {
		enrolled = map[string]bool{}
		for _, ns := range in.Topology.InjectedNamespaces() {
			enrolled[ns] = true
		}
	}
	world, err := harness.NewWorld(in.Topology, map[string]bool{}) // no sidecars anywhere
	if err != nil {
		return nil, err
	}
	objects := enroll(world.Objects, enrolled)
	// After enroll: istio-cni does not redirect a waypoint's pod (dataplane-mode none).
	objects, xfcc, err := deployWaypoints(t, objects, in.Waypoints)
	if err != nil {
		return nil, err
	}
	configs, err := harness.Configs(in.Objects)
	if err != nil {
		return nil, err
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, o := range in.Objects {
		if o.PeerAuthentication == nil {
			continue
		}
		meta := o.Meta()
		pa := &securityclient.PeerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Name: meta.Name, Namespace: meta.Namespace,
				CreationTimestamp: metav1.NewTime(base.Add(time.Duration(i) * time.Second))},
		}
		proto.Merge(&pa.Spec, &o.PeerAuthentication.Spec)
		objects = append(objects, pa)
	}
	m := mesh.DefaultMeshConfig()
	if in.TrustDomain != "" {
		m.TrustDomain = in.TrustDomain
	}
	if in.RootNamespace != "" {
		m.RootNamespace = in.RootNamespace
	}
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{KubernetesObjects: objects, Configs: configs, MeshConfig: m})
	out := &Generated{World: world, WaypointXFCC: xfcc}
	for _, r := range wds(s, v3.AddressType, false) {
		a := &workloadapi.Address{}
		if err := r.Resource.UnmarshalTo(a); err != nil {
			return nil, fmt.Errorf("ambient: address %s: %w", r.Name, err)
		}
		out.Addresses = append(out.Addresses, a)
	}
	// Without a PeerAuthentication (and the fixtures have no AuthorizationPolicy) istiod has no
	// authorization to send (policies.go DefaultPolicy is nil then): the response must be empty.
	hasPeerAuthentication := slices.ContainsFunc(in.Objects, func(o policy.Object) bool { return o.PeerAuthentication != nil })
	for _, r := range wds(s, v3.WorkloadAuthorizationType, !hasPeerAuthentication) {
		p := &security.Authorization{}
		if err := r.Resource.UnmarshalTo(p); err != nil {
			return nil, fmt.Errorf("ambient: authorization %s: %w", r.Name, err)
		}
		out.Policies = append(out.Policies, p)
	}
	out.Raw, err = ConfigDump(out.Addresses, out.Policies)
	if err != nil {
		return nil, err
	}
	out.Dump, err = ztunnel.Parse(out.Raw)
	if err != nil {
		return nil, fmt.Errorf("ambient: reading back the dump: %w", err)
	}
	return out, nil
}

// wds subscribes a ztunnel to every resource of one type and returns the first response;
// expectEmpty fails the test unless that response is empty.
func wds(s *xds.FakeDiscoveryServer, typeURL string, expectEmpty bool) []*discovery.Resource {
	ads := s.ConnectDeltaADS().WithType(typeURL).WithNodeType(model.Ztunnel).WithTimeout(10 * time.Second)
	req := &discovery.DeltaDiscoveryRequest{ResourceNamesSubscribe: []string{"*"}}
	if expectEmpty {
		ads.Request(req)
		return ads.ExpectEmptyResponse().Resources
	}
	return ads.RequestResponseAck(req).Resources
}

// enroll labels the enrolled namespaces for ambient and annotates their pods as redirected.
func enroll(objs []runtime.Object, enrolled map[string]bool) []runtime.Object {
	out := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Namespace:
			if enrolled[v.Name] {
				v = v.DeepCopy()
				if v.Labels == nil {
					v.Labels = map[string]string{}
				}
				delete(v.Labels, fixtures.InjectionLabel)
				v.Labels[oracle.AmbientLabel] = oracle.AmbientValue
				o = v
			}
		case *corev1.Pod:
			if enrolled[v.Namespace] {
				v = v.DeepCopy()
				v.Annotations = maps.Clone(v.Annotations)
				if v.Annotations == nil {
					v.Annotations = map[string]string{}
				}
				v.Annotations[annotation.AmbientRedirection.Name] = constants.AmbientRedirectionEnabled
				o = v
			}
		}
		out = append(out, o)
	}
	return out
}

// deployWaypoints adds waypoints to a world's objects: each one's objects and its namespace's
// use-waypoint label; with whether each writes XFCC, by namespace.
func deployWaypoints(t test.Failer, objs []runtime.Object, waypoints map[string]scenarios.Waypoint) ([]runtime.Object, map[string]bool, error) {
	xfcc := map[string]bool{}
	if len(waypoints) == 0 {
		return objs, xfcc, nil
	}
	out := make([]runtime.Object, 0, len(objs)+1+5*len(waypoints))
	for _, o := range objs {
		if ns, ok := o.(*corev1.Namespace); ok {
			if _, ok := waypoints[ns.Name]; ok {
				ns = ns.DeepCopy()
				if ns.Labels == nil {
					ns.Labels = map[string]string{}
				}
				ns.Labels[label.IoIstioUseWaypoint.Name] = waypoint.Name
				o = ns
			}
		}
		out = append(out, o)
	}
	out = append(out, waypoint.GatewayClass())
	for i, ns := range slices.Sorted(maps.Keys(waypoints)) {
		wp := waypoints[ns]
		if wp.Namespace != ns {
			return nil, nil, fmt.Errorf("ambient: waypoint of namespace %s names namespace %q", ns, wp.Namespace)
		}
		annotations := wp.Annotations()
		podIP, clusterIP := waypoint.AddressesAt(i)
		out = append(out, waypoint.Objects(ns, annotations, podIP, clusterIP)...)
		writes, err := writesXFCC(t, annotations)
		if err != nil {
			return nil, nil, err
		}
		xfcc[ns] = writes
	}
	return out, xfcc, nil
}

// xfccVerdicts caches waypoint.WritesXFCC by annotation set. It asks Istio about a waypoint in
// foo serving httpbin.foo; the verdict depends on the Gateway's annotations only
// (listener_waypoint.go reads the proxy's annotations, whatever its namespace or Services), and
// each asking starts a discovery server.
var xfccVerdicts = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

func writesXFCC(t test.Failer, annotations map[string]string) (bool, error) {
	var key []string
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		key = append(key, k+"="+annotations[k])
	}
	k := strings.Join(key, "\n")
	xfccVerdicts.Lock()
	defer xfccVerdicts.Unlock()
	if v, ok := xfccVerdicts.m[k]; ok {
		return v, nil
	}
	v, err := waypoint.WritesXFCC(t, annotations)
	if err != nil {
		return false, err
	}
	xfccVerdicts.m[k] = v
	return v, nil
}

// Predict judges every probe of the matrix from the dump, in matrix order. A connection the
// engine judges through a waypoint that writes XFCC is ClassWaypoint, with the waypoint's
// identity as By (the engine judges what ztunnel does; the header is the waypoint's Envoy's).
func (g *Generated) Predict(trustDomain string) ([]scenarios.ProbeOutcome, []ztunnel.Judgement, error) {
	if trustDomain == "" {
		trustDomain = fixtures.DefaultTrustDomain
	}
	topo := g.World.Topology
	var out []scenarios.ProbeOutcome
	var why []ztunnel.Judgement
	podName := func(w fixtures.Workload) (string, error) {
		name, ok := g.World.PodNames[w.Ref]
		if !ok {
			return "", fmt.Errorf("ambient: no pod of %s", w.Ref)
		}
		return name, nil
	}
	for _, p := range scenarios.Matrix(topo) {
		zp, client, server, err := ztunnel.MatrixProbe(topo, p, podName)
		if err != nil {
			return nil, nil, err
		}
		j, err := g.Dump.Judge(zp)
		if err != nil {
			return nil, nil, fmt.Errorf("probe %s: %w", p, err)
		}
		class, serverID := j.Class, fixtures.SPIFFEID(trustDomain, server.Namespace, server.ServiceAccount)
		if j.Waypoint != "" {
			ns, _, _ := strings.Cut(j.Waypoint, "/")
			writes, ok := g.WaypointXFCC[ns]
			if !ok {
				return nil, nil, fmt.Errorf("probe %s: through waypoint %s, not one Generate deployed", p, j.Waypoint)
			}
			if writes && class == scenarios.ClassHBONE {
				class, serverID = scenarios.ClassWaypoint, j.WaypointIdentity
			}
		}
		o, err := class.Outcome(serverID, fixtures.SPIFFEID(trustDomain, client.Namespace, client.ServiceAccount))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, scenarios.ProbeOutcome{Probe: p, Outcome: o})
		why = append(why, j)
	}
	return out, why, nil
}

// DeniedPorts is the engine's reading of every enrolled server: whether plaintext (no identity)
// is denied on each workload port; shaped like oracle.AmbientDeniedPorts.
func (g *Generated) DeniedPorts() (map[fixtures.Ref]map[int]bool, error) {
	out := map[fixtures.Ref]map[int]bool{}
	for _, w := range g.World.Topology.Servers {
		wl, ok := g.Dump.Workload(w.Namespace, g.World.PodNames[w.Ref])
		if !ok {
			return nil, fmt.Errorf("%s: no workload in the dump", w.Ref)
		}
		if wl.Protocol != ztunnel.ProtocolHBONE {
			continue
		}
		ports := map[int]bool{}
		for _, p := range w.ContainerPorts {
			ports[p] = !g.Dump.Authorize(wl, ztunnel.Connection{DstPort: uint16(p), DstIP: g.World.PodIPs[w.Ref]}).Allowed
		}
		out[w.Ref] = ports
	}
	return out, nil
}

// ConfigDump writes WDS resources as ztunnel's /config_dump does: ztunnel's own conversion of
// each resource (src/state/workload.rs Workload from istio.workload.Workload: protocol "HBONE"
// for TunnelProtocol HBONE, "TCP" for NONE; src/state/service.rs Service from
// istio.workload.Service, with the endpoints each workload's services map gives it
// (src/xds.rs PreparedWorkload::build) that its health policy accepts (service.rs
// apply_endpoints, should_include_endpoint); src/rbac.rs Authorization from
// istio.security.Authorization: groups → rules, group rules → clauses, matches; StringMatch as
// an externally tagged enum), serialised in camelCase as src/admin.rs does.
func ConfigDump(addresses []*workloadapi.Address, policies []*security.Authorization) ([]byte, error) {
	type dump struct {
		Workloads []ztunnel.Workload `json:"workloads"`
		Services  []ztunnel.Service  `json:"services"`
		Policies  []ztunnel.Policy   `json:"policies"`
	}
	d := dump{Workloads: []ztunnel.Workload{}, Policies: []ztunnel.Policy{}, Services: []ztunnel.Service{}}
	for _, a := range addresses {
		w := a.GetWorkload()
		if w == nil {
			continue
		}
		protocol := ztunnel.ProtocolTCP
		switch w.GetTunnelProtocol() {
		case workloadapi.TunnelProtocol_HBONE:
			protocol = ztunnel.ProtocolHBONE
		case workloadapi.TunnelProtocol_NONE:
		default:
			return nil, fmt.Errorf("ambient: workload %s: tunnel protocol %s is not modelled", w.GetUid(), w.GetTunnelProtocol())
		}
		zw := ztunnel.Workload{UID: w.GetUid(), Protocol: protocol, Name: w.GetName(), Namespace: w.GetNamespace(),
			ServiceAccount: w.GetServiceAccount(), TrustDomain: w.GetTrustDomain(), AuthorizationPolicies: w.GetAuthorizationPolicies(),
			Hostname: w.GetHostname(), Network: w.GetNetwork()}
		for _, b := range w.GetAddresses() {
			if ip, ok := netip.AddrFromSlice(b); ok {
				zw.WorkloadIPs = append(zw.WorkloadIPs, ip.String())
			}
		}
		if c := w.GetCapacity(); c != nil {
			zw.Capacity = &c.Value
		}
		if at := w.GetApplicationTunnel(); at != nil {
			raw, err := json.Marshal(applicationTunnel(at))
			if err != nil {
				return nil, err
			}
			zw.ApplicationTunnel = raw
		}
		d.Workloads = append(d.Workloads, zw)
	}
	for _, a := range addresses {
		s := a.GetService()
		if s == nil {
			continue
		}
		zs, err := service(s, addresses)
		if err != nil {
			return nil, fmt.Errorf("ambient: service %s/%s: %w", s.GetNamespace(), s.GetHostname(), err)
		}
		d.Services = append(d.Services, zs)
	}
	for _, p := range policies {
		zp := ztunnel.Policy{Name: p.GetName(), Namespace: p.GetNamespace(), DryRun: p.GetDryRun(), Rules: [][][]ztunnel.Match{}}
		switch p.GetScope() {
		case security.Scope_GLOBAL:
			zp.Scope = ztunnel.ScopeGlobal
		case security.Scope_NAMESPACE:
			zp.Scope = ztunnel.ScopeNamespace
		default:
			zp.Scope = ztunnel.ScopeWorkloadSelector
		}
		zp.Action = ztunnel.ActionAllow
		if p.GetAction() == security.Action_DENY {
			zp.Action = ztunnel.ActionDeny
		}
		for _, g := range p.GetGroups() {
			var rule [][]ztunnel.Match
			for _, r := range g.GetRules() {
				var clause []ztunnel.Match
				for _, m := range r.GetMatches() {
					zm, err := match(m)
					if err != nil {
						return nil, fmt.Errorf("ambient: policy %s/%s: %w", p.GetNamespace(), p.GetName(), err)
					}
					clause = append(clause, zm)
				}
				rule = append(rule, clause)
			}
			zp.Rules = append(zp.Rules, rule)
		}
		d.Policies = append(d.Policies, zp)
	}
	return json.MarshalIndent(d, "", "  ")
}

// service is ztunnel's Service from s (src/state/service.rs TryFrom<&XdsService>): VIPs as
// "<network>/<ip>" (a prefix shorter than the address is a CIDR VIP), ports service → target,
// the waypoint's GatewayAddress as workload.rs serialises it; with the endpoints the workloads
// of addresses give it.
func service(s *workloadapi.Service, addresses []*workloadapi.Address) (ztunnel.Service, error) {
	zs := ztunnel.Service{Name: s.GetName(), Namespace: s.GetNamespace(), Hostname: s.GetHostname(), VIPs: []string{},
		Ports: map[uint16]uint16{}, Endpoints: map[string]ztunnel.Endpoint{}, Visibility: "Public"}
	for _, a := range s.GetAddresses() {
		ip, ok := netip.AddrFromSlice(a.GetAddress())
		if !ok {
			return zs, fmt.Errorf("address %v is not an IP", a.GetAddress())
		}
		if a.Length != nil && int(a.GetLength()) != ip.BitLen() {
			zs.CIDRVIPs = append(zs.CIDRVIPs, ztunnel.CIDRVIP{Network: a.GetNetwork(), CIDR: netip.PrefixFrom(ip, int(a.GetLength())).String()})
			continue
		}
		zs.VIPs = append(zs.VIPs, a.GetNetwork()+"/"+ip.String())
	}
	for _, p := range s.GetPorts() {
		zs.Ports[uint16(p.GetServicePort())] = uint16(p.GetTargetPort())
	}
	if s.GetVisibility() == workloadapi.Service_NAMESPACE {
		zs.Visibility = "Namespace"
	}
	allowAll := false
	if lb := s.GetLoadBalancing(); lb != nil {
		mode, ok := map[workloadapi.LoadBalancing_Mode]string{
			workloadapi.LoadBalancing_UNSPECIFIED_MODE: ztunnel.LoadBalancerStandard, workloadapi.LoadBalancing_STRICT: ztunnel.LoadBalancerStrict,
			workloadapi.LoadBalancing_FAILOVER: ztunnel.LoadBalancerFailover, workloadapi.LoadBalancing_PASSTHROUGH: ztunnel.LoadBalancerPassthrough,
		}[lb.GetMode()]
		if !ok {
			return zs, fmt.Errorf("load balancing mode %s is not modelled", lb.GetMode())
		}
		zs.LoadBalancer = &ztunnel.LoadBalancer{Mode: mode}
		allowAll = lb.GetHealthPolicy() == workloadapi.LoadBalancing_ALLOW_ALL
	}
	var err error
	if s.GetWaypoint() != nil {
		if zs.Waypoint, err = gatewayAddress(s.GetWaypoint()); err != nil {
			return zs, err
		}
	}
	for _, ww := range s.GetWeightedWaypoints() {
		gw, err := gatewayAddress(ww.GetDestination())
		if err != nil {
			return zs, err
		}
		raw, err := json.Marshal(struct {
			Destination *ztunnel.GatewayAddress `json:"destination"`
			Weight      uint32                  `json:"weight"`
		}{gw, ww.GetWeight()})
		if err != nil {
			return zs, err
		}
		zs.WeightedWaypoints = append(zs.WeightedWaypoints, raw)
	}
	key := s.GetNamespace() + "/" + s.GetHostname()
	for _, a := range addresses {
		w := a.GetWorkload()
		ports, ok := w.GetServices()[key]
		if w == nil || !ok {
			continue
		}
		healthy := w.GetStatus() == workloadapi.WorkloadStatus_HEALTHY
		if !healthy && !allowAll {
			continue
		}
		ep := ztunnel.Endpoint{WorkloadUID: w.GetUid(), Port: map[uint16]uint16{}, Status: "Healthy"}
		if !healthy {
			ep.Status = "Unhealthy"
		}
		for _, p := range ports.GetPorts() {
			ep.Port[uint16(p.GetServicePort())] = uint16(p.GetTargetPort())
		}
		zs.Endpoints[w.GetUid()] = ep
	}
	return zs, nil
}

// gatewayAddress is workload.rs GatewayAddress as it serialises: the destination a
// NamespacedHostname "<namespace>/<hostname>" or a NetworkAddress "<network>/<ip>".
func gatewayAddress(g *workloadapi.GatewayAddress) (*ztunnel.GatewayAddress, error) {
	out := &ztunnel.GatewayAddress{HBONEMTLSPort: uint16(g.GetHboneMtlsPort())}
	switch {
	case g.GetHostname() != nil:
		out.Destination = g.GetHostname().GetNamespace() + "/" + g.GetHostname().GetHostname()
	case g.GetAddress() != nil:
		ip, ok := netip.AddrFromSlice(g.GetAddress().GetAddress())
		if !ok {
			return nil, fmt.Errorf("gateway address %v is not an IP", g.GetAddress().GetAddress())
		}
		out.Destination = g.GetAddress().GetNetwork() + "/" + ip.String()
	default:
		return nil, fmt.Errorf("gateway address without a destination") // workload.rs MissingGatewayAddress
	}
	return out, nil
}

// applicationTunnel is workload.rs ApplicationTunnel as it serialises.
func applicationTunnel(at *workloadapi.ApplicationTunnel) any {
	protocol := "NONE"
	if at.GetProtocol() == workloadapi.ApplicationTunnel_PROXY {
		protocol = "PROXY"
	}
	var port *uint32
	if at.GetPort() != 0 {
		p := at.GetPort()
		port = &p
	}
	return struct {
		Protocol string  `json:"protocol"`
		Port     *uint32 `json:"port"`
	}{protocol, port}
}

func match(m *security.Match) (ztunnel.Match, error) {
	sm := func(in []*security.StringMatch) ([]ztunnel.StringMatch, error) {
		var out []ztunnel.StringMatch
		for _, s := range in {
			switch v := s.GetMatchType().(type) {
			case *security.StringMatch_Exact:
				out = append(out, ztunnel.StringMatch{Exact: &v.Exact})
			case *security.StringMatch_Prefix:
				out = append(out, ztunnel.StringMatch{Prefix: &v.Prefix})
			case *security.StringMatch_Suffix:
				out = append(out, ztunnel.StringMatch{Suffix: &v.Suffix})
			case *security.StringMatch_Presence:
				empty := json.RawMessage("[]")
				out = append(out, ztunnel.StringMatch{Presence: &empty})
			default:
				return nil, fmt.Errorf("string match %v is not modelled", s)
			}
		}
		return out, nil
	}
	sa := func(in []*security.ServiceAccountMatch) []ztunnel.ServiceAccountMatch {
		var out []ztunnel.ServiceAccountMatch
		for _, s := range in {
			out = append(out, ztunnel.ServiceAccountMatch{Namespace: s.GetNamespace(), ServiceAccount: s.GetServiceAccount()})
		}
		return out
	}
	addrs := func(in []*security.Address) []string {
		var out []string
		for _, a := range in {
			if ip, ok := netip.AddrFromSlice(a.GetAddress()); ok {
				out = append(out, netip.PrefixFrom(ip, int(a.GetLength())).String())
			}
		}
		return out
	}
	ports := func(in []uint32) []uint16 {
		var out []uint16
		for _, p := range in {
			out = append(out, uint16(p))
		}
		return out
	}
	var zm ztunnel.Match
	var err error
	if zm.Namespaces, err = sm(m.GetNamespaces()); err != nil {
		return zm, err
	}
	if zm.NotNamespaces, err = sm(m.GetNotNamespaces()); err != nil {
		return zm, err
	}
	if zm.Principals, err = sm(m.GetPrincipals()); err != nil {
		return zm, err
	}
	if zm.NotPrincipals, err = sm(m.GetNotPrincipals()); err != nil {
		return zm, err
	}
	zm.ServiceAccounts, zm.NotServiceAccounts = sa(m.GetServiceAccounts()), sa(m.GetNotServiceAccounts())
	zm.SourceIPs, zm.NotSourceIPs = addrs(m.GetSourceIps()), addrs(m.GetNotSourceIps())
	zm.DestinationIPs, zm.NotDestinationIPs = addrs(m.GetDestinationIps()), addrs(m.GetNotDestinationIps())
	zm.DestinationPorts, zm.NotDestinationPorts = ports(m.GetDestinationPorts()), ports(m.GetNotDestinationPorts())
	return zm, nil
}
