package harness

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/test"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/configdump"
)

// domainSuffix is the cluster domain the fake discovery server uses (pilot/test/xds/fake.go
// DomainSuffix "cluster.local"), the same as a kind cluster's.
const domainSuffix = "cluster.local"

// istioVersion is the proxy version the generated config targets; Istio gates some features
// on it (pilot/pkg/model/context.go IstioVersion).
const istioVersion = "1.31.0"

// Generated is what Istio produced for every fixture proxy under one set of policies.
type Generated struct {
	World       *World
	TrustDomain string
	// Dumps holds one config dump per workload with a sidecar, read back through
	// authcheck.ParseConfigDump exactly as a live proxy's would be.
	Dumps map[fixtures.Ref]*authcheck.Dump
	// Raw is each dump as the admin endpoint's JSON.
	Raw map[fixtures.Ref][]byte
	// Server is Istio's fake discovery server and Proxies the sidecars it generated for, for
	// Istio's traffic simulator (pilot/pkg/simulation).
	Server  *xds.FakeDiscoveryServer
	Proxies map[fixtures.Ref]*model.Proxy
}

// Generate starts Istio's fake discovery server with the fixture world and in's objects, and
// takes from it the listeners, clusters and endpoints each sidecar would receive. t owns the
// server's lifetime (its Cleanup stops it).
func Generate(t test.Failer, in oracle.Input) (*Generated, error) {
	return generate(t, in, true)
}

// generate is Generate; readBack false skips the config dump's JSON round trip (a quarter of
// the time) and hands the engine the generated objects themselves, for the random check, whose
// every set would otherwise re-prove what the catalog sets already prove about reading dumps.
func generate(t test.Failer, in oracle.Input, readBack bool) (*Generated, error) {
	if in.Topology == nil {
		return nil, fmt.Errorf("harness: no topology")
	}
	if in.TrustDomain == "" {
		in.TrustDomain = fixtures.DefaultTrustDomain
	}
	if in.RootNamespace == "" {
		in.RootNamespace = scenarios.RootNamespace
	}
	injected := in.Injected
	if injected == nil {
		injected = map[string]bool{}
		for _, ns := range in.Topology.InjectedNamespaces() {
			injected[ns] = true
		}
	}
	world, err := NewWorld(in.Topology, injected)
	if err != nil {
		return nil, err
	}
	configs, err := Configs(in.Objects)
	if err != nil {
		return nil, err
	}
	m := mesh.DefaultMeshConfig()
	m.TrustDomain = in.TrustDomain
	m.RootNamespace = in.RootNamespace
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjects: world.Objects,
		Configs:           configs,
		MeshConfig:        m,
	})
	out := &Generated{World: world, TrustDomain: in.TrustDomain,
		Dumps: map[fixtures.Ref]*authcheck.Dump{}, Raw: map[fixtures.Ref][]byte{},
		Server: s, Proxies: map[fixtures.Ref]*model.Proxy{}}
	for _, wl := range slices.Concat(in.Topology.Clients, in.Topology.Servers) {
		if !injected[wl.Namespace] {
			continue
		}
		proxy := s.SetupProxy(world.Proxy(wl))
		if proxy.SidecarScope == nil {
			return nil, fmt.Errorf("harness: proxy %s has no sidecar scope", proxy.ID)
		}
		d := &authcheck.Dump{
			Listeners: s.Listeners(proxy),
			Clusters:  s.Clusters(proxy),
			Endpoints: s.Endpoints(proxy),
			NodeIPs:   []netip.Addr{world.PodIPs[wl.Ref]},
		}
		out.Proxies[wl.Ref] = proxy
		if !readBack {
			out.Dumps[wl.Ref] = d
			continue
		}
		raw, err := configdump.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("harness: %s: %w", wl.Ref, err)
		}
		parsed, err := authcheck.ParseConfigDump(raw)
		if err != nil {
			return nil, fmt.Errorf("harness: %s: reading back the generated dump: %w", wl.Ref, err)
		}
		out.Dumps[wl.Ref] = parsed
		out.Raw[wl.Ref] = raw
	}
	return out, nil
}

// Proxy is the sidecar of wl as istio-agent would announce it: ID pod.namespace (how istiod
// finds the pod, pilot/pkg/serviceregistry/kube/controller/util.go podKeyByProxy), the pod IP,
// labels and service account.
func (w *World) Proxy(wl fixtures.Workload) *model.Proxy {
	labels := injectedLabels(wl)
	ip := w.PodIPs[wl.Ref].String()
	return &model.Proxy{
		Type:            model.SidecarProxy,
		ID:              w.PodNames[wl.Ref] + "." + wl.Namespace,
		IPAddresses:     []string{ip},
		ConfigNamespace: wl.Namespace,
		DNSDomain:       wl.Namespace + ".svc." + domainSuffix,
		Labels:          labels,
		Metadata: &model.NodeMetadata{
			Namespace:      wl.Namespace,
			Labels:         labels,
			ServiceAccount: wl.ServiceAccount,
			InstanceIPs:    []string{ip},
			IstioVersion:   istioVersion,
			WorkloadName:   wl.Name,
		},
	}
}

// Configs converts the policies into Istio's config model in creation order: each object is
// one second younger than the one before, which is what Istio's "oldest wins" rules compare
// (pilot/pkg/model/authentication.go for PeerAuthentication; pilot/pkg/model/push_context.go
// sortConfigBySelectorAndCreationTime).
func Configs(objs []policy.Object) ([]config.Config, error) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]config.Config, 0, len(objs))
	for i, o := range objs {
		meta := o.Meta()
		c := config.Config{Meta: config.Meta{
			Name:              meta.Name,
			Namespace:         meta.Namespace,
			Labels:            maps.Clone(meta.Labels),
			Annotations:       maps.Clone(meta.Annotations),
			CreationTimestamp: base.Add(time.Duration(i) * time.Second),
			ResourceVersion:   "1",
			Domain:            domainSuffix,
		}}
		switch {
		case o.PeerAuthentication != nil:
			c.GroupVersionKind = gvk.PeerAuthentication
			c.Spec = proto.Clone(&o.PeerAuthentication.Spec).(*securityv1beta1.PeerAuthentication)
		case o.DestinationRule != nil:
			c.GroupVersionKind = gvk.DestinationRule
			c.Spec = proto.Clone(&o.DestinationRule.Spec).(*networkingv1alpha3.DestinationRule)
		default:
			return nil, fmt.Errorf("harness: object %d is neither a PeerAuthentication nor a DestinationRule", i+1)
		}
		if c.Namespace == "" {
			return nil, fmt.Errorf("harness: %s has no namespace", o.Key())
		}
		out = append(out, c)
	}
	return out, nil
}

// Host is a Service's FQDN, the host of its outbound clusters.
func Host(ref fixtures.Ref) string {
	return ref.Name + "." + ref.Namespace + ".svc." + domainSuffix
}

// ProbeDerivation is one probe with the engine's reasoning.
type ProbeDerivation struct {
	scenarios.ProbeOutcome
	authcheck.Derivation
}

// Predict derives every probe of the matrix, in matrix order, from the generated config: the
// client's cluster for the Service port and the server's inbound listener, judged by the
// authcheck engine.
func (g *Generated) Predict() ([]ProbeDerivation, error) {
	topo := g.World.Topology
	var out []ProbeDerivation
	for _, p := range scenarios.Matrix(topo) {
		client, ok := topo.Workload(p.From)
		if !ok {
			return nil, fmt.Errorf("probe %s: unknown client", p)
		}
		svc, ok := topo.Service(p.To)
		if !ok {
			return nil, fmt.Errorf("probe %s: unknown service", p)
		}
		servers := topo.ServiceWorkloads(svc)
		if len(servers) != 1 {
			return nil, fmt.Errorf("probe %s: service selects %d workloads, the derivation needs exactly one", p, len(servers))
		}
		server := servers[0]
		i := slices.IndexFunc(svc.Ports, func(sp fixtures.ServicePort) bool { return sp.Port == p.Port })
		if i < 0 {
			return nil, fmt.Errorf("probe %s: service has no port %d", p, p.Port)
		}
		sp := svc.Ports[i]
		serverID := fixtures.SPIFFEID(g.TrustDomain, server.Namespace, server.ServiceAccount)
		clientID := fixtures.SPIFFEID(g.TrustDomain, client.Namespace, client.ServiceAccount)
		d, err := authcheck.DeriveProbe(authcheck.ProbeInput{
			Client:         g.Dumps[client.Ref],
			Server:         g.Dumps[server.Ref],
			Cluster:        authcheck.OutboundName(Host(svc.Ref), sp.Port),
			Endpoint:       netip.AddrPortFrom(g.World.PodIPs[server.Ref], uint16(sp.TargetPort)),
			ServerIdentity: serverID,
		})
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", p, err)
		}
		o, err := d.Class.Outcome(serverID, clientID)
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", p, err)
		}
		out = append(out, ProbeDerivation{ProbeOutcome: scenarios.ProbeOutcome{Probe: p, Outcome: o}, Derivation: d})
	}
	return out, nil
}

// EffectiveModes is the engine's reading of every sidecar server's inbound listener on each of
// its workload ports, shaped like oracle.EffectiveModes.
func (g *Generated) EffectiveModes() (map[fixtures.Ref]map[int]authcheck.InboundPort, error) {
	out := map[fixtures.Ref]map[int]authcheck.InboundPort{}
	for _, w := range g.World.Topology.Servers {
		d := g.Dumps[w.Ref]
		if d == nil {
			continue
		}
		ports := map[int]authcheck.InboundPort{}
		for _, p := range w.ContainerPorts {
			ip, err := d.Inbound(p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", w.Ref, err)
			}
			ports[p] = ip
		}
		out[w.Ref] = ports
	}
	return out, nil
}
