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
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"istio.io/api/annotation"
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
)

func init() {
	// Istio's own WDS tests set this once for the package (pilot/pkg/xds/workload_test.go init):
	// per test, it races with servers of earlier tests still shutting down.
	features.EnableAmbient = true
}

// Generated is what Istio's ambient control plane produced for one set of policies.
type Generated struct {
	World *harness.World
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
// istiod used them for ztunnel, they would show in what it sends.
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
	out := &Generated{World: world}
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

// Predict judges every probe of the matrix from the dump, in matrix order.
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
		o, err := j.Class.Outcome(fixtures.SPIFFEID(trustDomain, server.Namespace, server.ServiceAccount),
			fixtures.SPIFFEID(trustDomain, client.Namespace, client.ServiceAccount))
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
// for TunnelProtocol HBONE, "TCP" for NONE; src/rbac.rs Authorization from
// istio.security.Authorization: groups → rules, group rules → clauses, matches; StringMatch as
// an externally tagged enum), serialised in camelCase as src/admin.rs does.
func ConfigDump(addresses []*workloadapi.Address, policies []*security.Authorization) ([]byte, error) {
	type dump struct {
		Workloads []ztunnel.Workload `json:"workloads"`
		Policies  []ztunnel.Policy   `json:"policies"`
		Services  []any              `json:"services"`
	}
	d := dump{Workloads: []ztunnel.Workload{}, Policies: []ztunnel.Policy{}, Services: []any{}}
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
			ServiceAccount: w.GetServiceAccount(), TrustDomain: w.GetTrustDomain(), AuthorizationPolicies: w.GetAuthorizationPolicies()}
		for _, b := range w.GetAddresses() {
			if ip, ok := netip.AddrFromSlice(b); ok {
				zw.WorkloadIPs = append(zw.WorkloadIPs, ip.String())
			}
		}
		d.Workloads = append(d.Workloads, zw)
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
