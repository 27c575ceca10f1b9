// Package oracle computes, from Istio's rules, what every probe of the fixture topology observes
// under a set of PeerAuthentications and DestinationRules. The catalog's hand-written
// expectations are tested against it, and it in turn is tested against Istio's own config
// generator (tools/istiogen). Each rule cites the Istio source it follows.
package oracle

import (
	"fmt"
	"slices"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
)

// Mode is a server sidecar's effective inbound mTLS mode on one workload port.
type Mode string

const (
	Strict     Mode = "STRICT"
	Permissive Mode = "PERMISSIVE"
	Disable    Mode = "DISABLE"
	// unset means "inherit from the level above"; it never leaves this package.
	unset Mode = ""
)

// Input is everything a prediction depends on.
type Input struct {
	Topology *fixtures.Topology
	// Objects in creation order: the first is the oldest.
	Objects []policy.Object
	// Injected namespaces have sidecars; nil means the topology's labels decide.
	Injected map[string]bool
	// TrustDomain defaults to cluster.local; RootNamespace to istio-system.
	TrustDomain   string
	RootNamespace string
	// IstioVersion is the Istio the prediction is for ("1.31.4" or "1.31"; "" = any minor the
	// versions file pins). Every rule below holds unchanged for 1.30, 1.31 and 1.32: the one
	// mTLS change between them that touches a modelled object — a DestinationRule subset without
	// a TLS mode takes the rule's top-level mode since 1.31 (releasenotes/notes/
	// dr-subset-tls-mode-fallback.yaml) — changes only the EDS endpoints' tlsMode metadata
	// (pilot/pkg/xds/endpoints/mtls_checker.go tlsModeForDestinationRule), not the subset
	// cluster's TLS, which both merge from the top level (networking/util
	// MergeSubsetTrafficPolicy, core/cluster_tls.go applyUpstreamTLSSettings); and subsets are
	// rejected as unmodelled (modelled.go). A rule that differs by minor branches on this field.
	IstioVersion string
	// Waypoints are the ambient waypoints deployed, by namespace (scenarios.State.Waypoints);
	// only PredictAmbient models them.
	Waypoints map[string]scenarios.Waypoint

	// destinationRules is the DestinationRule index check builds (destinationrule.go).
	destinationRules *drIndex
}

func (in *Input) defaults() {
	if in.TrustDomain == "" {
		in.TrustDomain = fixtures.DefaultTrustDomain
	}
	if in.RootNamespace == "" {
		in.RootNamespace = scenarios.RootNamespace
	}
	if in.Injected == nil {
		in.Injected = map[string]bool{}
		for _, ns := range in.Topology.InjectedNamespaces() {
			in.Injected[ns] = true
		}
	}
}

// merged is a workload's composed PeerAuthentication: a mode and per-port overrides.
type merged struct {
	mode    Mode
	perPort map[int]Mode
}

func modeOf(m *securityv1beta1.PeerAuthentication_MutualTLS) Mode {
	if m == nil {
		return unset
	}
	switch m.GetMode() {
	case securityv1beta1.PeerAuthentication_MutualTLS_STRICT:
		return Strict
	case securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE:
		return Permissive
	case securityv1beta1.PeerAuthentication_MutualTLS_DISABLE:
		return Disable
	}
	return unset
}

// levelPolicies are the policies that apply to a workload at each level, oldest first.
type levelPolicies struct {
	mesh, namespace, workload *securityv1beta1.PeerAuthentication
}

// selectPolicies follows the selection in pilot/pkg/model/authentication.go
// (addPeerAuthentication, getConfigsForWorkload):
//   - only policies in the root namespace and in the workload's namespace count;
//   - no selector (or empty matchLabels) in the root namespace = mesh-wide; elsewhere = namespace-wide;
//   - a selector policy in the root namespace is ignored (istio/api security/v1beta1/peer_authentication.proto);
//   - at each level only the OLDEST policy applies (objects arrive in creation order, oldest first).
//
// labels nil selects no workload policy: only the mesh and namespace levels.
func selectPolicies(in *Input, namespace string, labels map[string]string) levelPolicies {
	var out levelPolicies
	for _, o := range in.Objects {
		pa := o.PeerAuthentication
		if pa == nil {
			continue
		}
		ns := pa.Namespace
		if ns != in.RootNamespace && ns != namespace {
			continue
		}
		spec := &pa.Spec
		noSelector := len(spec.GetSelector().GetMatchLabels()) == 0
		switch {
		case noSelector && ns == in.RootNamespace:
			if out.mesh == nil {
				out.mesh = spec
			}
		case noSelector:
			if out.namespace == nil {
				out.namespace = spec
			}
		case ns == in.RootNamespace || labels == nil:
			// A selector policy in the root namespace is ignored.
		case matches(spec.GetSelector().GetMatchLabels(), labels):
			if out.workload == nil {
				out.workload = spec
			}
		}
	}
	return out
}

// namespaceMode is the mode the mesh- and namespace-level policies give a namespace, as
// AuthenticationPolicies.GetNamespaceMutualTLSMode computes it (pilot/pkg/model/authentication.go
// addPeerAuthentication): UNSET inherits the mesh; no policy at all (or mesh UNSET) is PERMISSIVE.
func namespaceMode(p levelPolicies) Mode {
	mode := Permissive
	if m := modeOf(p.mesh.GetMtls()); m != unset {
		mode = m
	}
	if m := modeOf(p.namespace.GetMtls()); m != unset {
		mode = m
	}
	return mode
}

// compose follows Istio's ComposePeerAuthentication (istio/istio
// pilot/pkg/security/authn/policy_applier.go) over the policies selectPolicies picks:
//   - resolution runs mesh → namespace → workload → port; UNSET inherits the level above;
//   - portLevelMtls is read from the workload-level policy only; its keys are workload (container)
//     ports, so a key naming a Service port matches nothing (istio#49098);
//   - nothing set anywhere (or mesh UNSET) is PERMISSIVE (pilot/pkg/model/authentication.go).
func compose(in *Input, w fixtures.Workload) merged {
	p := selectPolicies(in, w.Namespace, w.PodLabels)
	out := merged{mode: namespaceMode(p)}
	workload := p.workload
	if workload == nil {
		return out
	}
	if m := modeOf(workload.GetMtls()); m != unset {
		out.mode = m
	}
	if len(workload.GetPortLevelMtls()) > 0 {
		out.perPort = map[int]Mode{}
		for port, m := range workload.GetPortLevelMtls() {
			if pm := modeOf(m); pm != unset {
				out.perPort[int(port)] = pm
			} else {
				out.perPort[int(port)] = out.mode
			}
		}
	}
	return out
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (m merged) at(port int) Mode {
	if pm, ok := m.perPort[port]; ok {
		return pm
	}
	return m.mode
}

// EffectiveModes returns, for every server workload with a sidecar, its inbound mode on each of
// its workload ports. Servers without a sidecar have no entry: nothing enforces anything there.
func EffectiveModes(in Input) (map[fixtures.Ref]map[int]Mode, error) {
	if err := check(&in); err != nil {
		return nil, err
	}
	return perServerPort(&in, func(w fixtures.Workload) func(port int) Mode { return compose(&in, w).at }), nil
}

// perServerPort is, for every server workload in the mesh (in.Injected: with a sidecar, or
// enrolled in ambient), what at(w) says of each of its workload ports. Servers out of the mesh
// have no entry.
func perServerPort[V any](in *Input, at func(w fixtures.Workload) func(port int) V) map[fixtures.Ref]map[int]V {
	out := map[fixtures.Ref]map[int]V{}
	for _, w := range in.Topology.Servers {
		if !in.Injected[w.Namespace] {
			continue
		}
		onPort := at(w)
		ports := map[int]V{}
		for _, p := range w.ContainerPorts {
			ports[p] = onPort(p)
		}
		out[w.Ref] = ports
	}
	return out
}

// clientTLS is what a client puts on the wire toward one endpoint.
type clientTLS int

const (
	sendsPlaintext clientTLS = iota
	sendsMTLS
)

// Predict returns the outcome of every probe of the matrix, in matrix order.
func Predict(in Input) ([]scenarios.ProbeOutcome, error) {
	if err := check(&in); err != nil {
		return nil, err
	}
	if len(in.Waypoints) > 0 {
		return nil, fmt.Errorf("oracle: waypoints are modelled on the ambient data plane only (PredictAmbient)")
	}
	var out []scenarios.ProbeOutcome
	for _, probe := range scenarios.Matrix(in.Topology) {
		o, err := predictOne(&in, probe)
		if err != nil {
			return nil, err
		}
		out = append(out, scenarios.ProbeOutcome{Probe: probe, Outcome: o})
	}
	return out, nil
}

func predictOne(in *Input, p scenarios.Probe) (scenarios.Outcome, error) {
	client, _ := in.Topology.Workload(p.From)
	svc, _ := in.Topology.Service(p.To)
	server := in.Topology.ServiceWorkloads(svc)[0]
	sp := svc.Ports[slices.IndexFunc(svc.Ports, func(x fixtures.ServicePort) bool { return x.Port == p.Port })]
	clientSidecar := in.Injected[client.Namespace]
	serverSidecar := in.Injected[server.Namespace]
	var serverMode Mode
	if serverSidecar {
		serverMode = compose(in, server).at(sp.TargetPort)
	}

	send := sendsPlaintext
	if clientSidecar {
		var err error
		send, err = clientChoice(in, client, svc, sp, serverSidecar, serverMode)
		if err != nil {
			return scenarios.Outcome{}, err
		}
	}

	var class scenarios.Class
	switch {
	case !clientSidecar && serverMode == Strict:
		// Plaintext from an app straight into a STRICT listener: Envoy resets the connection
		// (istio.io mtls-migration: "you will see curl exit code 56").
		class = scenarios.ClassReset
	case !clientSidecar:
		class = scenarios.ClassPlaintext
	case send == sendsMTLS && (!serverSidecar || serverMode == Disable):
		// The client's Envoy starts a TLS handshake that a plaintext server cannot answer; the
		// app gets Envoy's 503 "upstream connect error".
		class = scenarios.ClassUpstreamError
	case send == sendsMTLS:
		class = scenarios.ClassMTLS
	case serverMode == Strict:
		// Plaintext from a sidecar into STRICT: the server resets, the client's Envoy answers 503.
		class = scenarios.ClassUpstreamError
	default:
		class = scenarios.ClassPlaintext
	}
	return class.Outcome(
		fixtures.SPIFFEID(in.TrustDomain, server.Namespace, server.ServiceAccount),
		fixtures.SPIFFEID(in.TrustDomain, client.Namespace, client.ServiceAccount))
}

// clientChoice decides what a sidecar client sends to the Service port, the way istiod builds
// the client's cluster and its endpoints:
//  1. the DestinationRule the client's sidecar uses (destinationrule.go) with a TLS mode for
//     this Service port decides alone (cluster_tls.go buildUpstreamTLSSettings: a user TLS
//     setting is the cluster's transport socket);
//  2. otherwise auto mTLS, first per cluster: the Service namespace's mesh- and
//     namespace-level mode, never its workload or port policies
//     (pilot/pkg/model/push_context.go BestEffortInferServiceMTLSMode, called from
//     pilot/pkg/networking/core/cluster_builder.go applyDestinationRule). DISABLE there means a
//     cluster without TLS (buildUpstreamTLSSettings returns nil): plaintext to every endpoint,
//     even one whose workload policy is STRICT (istio#56084);
//  3. otherwise per endpoint: mTLS exactly when the endpoint has a sidecar and its composed mode
//     on the target (workload) port is not DISABLE (pilot/pkg/xds/endpoints/mtls_checker.go
//     checkMtlsEnabled; the cluster's tlsMode-istio transport socket match).
func clientChoice(in *Input, client fixtures.Workload, svc fixtures.Service, sp fixtures.ServicePort, serverSidecar bool, serverMode Mode) (clientTLS, error) {
	if dr := in.destinationRules.lookup(client, svc); dr != nil {
		switch tlsFor(dr.policy, sp.Port) {
		case networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL:
			return sendsMTLS, nil
		case networkingv1alpha3.ClientTLSSettings_DISABLE:
			return sendsPlaintext, nil
		}
	}
	if namespaceMode(selectPolicies(in, svc.Namespace, nil)) == Disable {
		return sendsPlaintext, nil
	}
	if serverSidecar && serverMode != Disable {
		return sendsMTLS, nil
	}
	return sendsPlaintext, nil
}

// autoTLS marks "the DestinationRule says nothing about TLS here".
const autoTLS networkingv1alpha3.ClientTLSSettings_TLSmode = -1

// tlsFor reads a DestinationRule's TLS mode for a Service port. Port-level settings are keyed by
// Service port and, when one matches, replace the destination-level policy entirely ("Traffic
// policies specified at the destination-level will not be inherited when overridden by
// port-level settings", istio/api networking/v1alpha3/destination_rule.proto;
// pilot/pkg/networking/util/util.go GetPortLevelTrafficPolicy). Modes other than DISABLE and
// ISTIO_MUTUAL were rejected by check.
func tlsFor(tp *networkingv1alpha3.TrafficPolicy, servicePort int) networkingv1alpha3.ClientTLSSettings_TLSmode {
	tls := tp.GetTls()
	for _, pls := range tp.GetPortLevelSettings() {
		if int(pls.GetPort().GetNumber()) == servicePort {
			tls = pls.GetTls()
			break
		}
	}
	if tls == nil {
		return autoTLS
	}
	return tls.GetMode()
}

// check rejects inputs the oracle cannot reason about, before anything is predicted: a spec
// field it has no rule for (modelled.go), or a client TLS mode other than DISABLE and
// ISTIO_MUTUAL. It then indexes the DestinationRules once.
func check(in *Input) error {
	if in.Topology == nil {
		return fmt.Errorf("oracle: no topology")
	}
	in.defaults()
	if in.IstioVersion != "" {
		if _, err := scenarios.ParseIstioMinor(in.IstioVersion); err != nil {
			return fmt.Errorf("oracle: istio version: %w", err)
		}
	}
	for _, o := range in.Objects {
		if err := checkModelled(o); err != nil {
			return err
		}
		dr := o.DestinationRule
		if dr == nil {
			continue
		}
		tp := dr.Spec.GetTrafficPolicy()
		modes := map[string]*networkingv1alpha3.ClientTLSSettings{"spec.trafficPolicy.tls.mode": tp.GetTls()}
		for i, pls := range tp.GetPortLevelSettings() {
			modes[fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].tls.mode", i)] = pls.GetTls()
		}
		for field, tls := range modes {
			switch m := tls.GetMode(); {
			case tls == nil, m == networkingv1alpha3.ClientTLSSettings_DISABLE, m == networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL:
			default:
				return &policy.Error{Object: o.Key(), Field: field, Msg: fmt.Sprintf("%s is outside what the oracle models (DISABLE, ISTIO_MUTUAL)", m)}
			}
		}
	}
	in.destinationRules = buildDRIndex(in)
	return nil
}
