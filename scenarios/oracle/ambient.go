package oracle

// The ambient data plane: ztunnel on every node, pods enrolled by the namespace label
// istio.io/dataplane-mode=ambient, no sidecars. Every rule below cites the pinned Istio source
// (istio.io/istio at release-1.31 commit eed52ebb66ad) and is checked against Istio's own
// conversion code in tools/istiogen (harness/ambient_test.go).
//
// What a probe observes in ambient:
//   - client and server both enrolled: the client's ztunnel opens HBONE (mTLS over HTTP CONNECT)
//     to the server's ztunnel whatever PeerAuthentication or DestinationRule says — workloads of
//     enrolled pods carry TunnelProtocol HBONE (pilot/pkg/serviceregistry/ambient/workloads.go
//     setTunnelProtocol, from the CNI's ambient.istio.io/redirection=enabled annotation) and
//     ztunnel's configuration has no TLS setting to choose otherwise (pkg/workloadapi/workload.proto
//     Workload, Service; nothing under pilot/pkg/serviceregistry/ambient reads DestinationRules).
//     The peer identity is present, so no converted PeerAuthentication denies it: 200, mTLS, and
//     no XFCC (ztunnel is L4; scenarios.ClassHBONE);
//   - client enrolled, server not: the server's workload is TunnelProtocol NONE, ztunnel sends
//     plaintext: 200, no XFCC;
//   - client not enrolled, server enrolled: plaintext arrives at the server's ztunnel without a
//     peer identity; it is reset when a DENY policy attached to the server matches "no principal"
//     on the target (workload) port — the static STRICT policy or a converted port-level policy
//     (ambient.go ambientDeniesPlaintext) — curl exit 56, HTTP 000
//     (tests/integration/ambient/baseline_test.go TestPeerAuthentication "strict" expects
//     CheckDeny, whose TCP-ztunnel case is check.ConnectionResetByPeer()); otherwise 200 plaintext;
//   - neither enrolled: 200 plaintext.
//
// With a waypoint in the Service's namespace (scenarios.Waypoint: Gateway "waypoint", the
// namespace labelled istio.io/use-waypoint=waypoint), the ambient index gives the Service that
// waypoint (pilot/pkg/serviceregistry/ambient/waypoints.go, services.go), and:
//   - an enrolled client's ztunnel sends the connection to the waypoint over HBONE instead of to
//     the server (ztunnel src/proxy/outbound.rs build_request: a Service with a waypoint is
//     reached through it), and the waypoint opens HBONE to the server's ztunnel with its own
//     identity, which no converted PeerAuthentication denies (they deny only "no principal"):
//     200 over mTLS; with the xfcc-include-client-identity annotation the waypoint writes XFCC
//     By=<waypoint>;URI=<client> (scenarios.ClassWaypoint), without it none (ClassHBONE);
//   - a client outside the mesh sends plaintext to the pod as before: ztunnel's inbound
//     passthrough only evaluates the authorization policies, it has no waypoint check (ztunnel
//     src/proxy/inbound_passthrough.rs proxy_inbound_plaintext: assert_rbac, then connect).

import (
	"fmt"
	"slices"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
)

// AmbientLabel is the namespace label that enrolls a namespace's pods in ambient mode
// (pkg/config/constants/constants.go DataplaneModeAmbient; label.IoIstioDataplaneMode).
const (
	AmbientLabel = "istio.io/dataplane-mode"
	AmbientValue = "ambient"
)

// PredictAmbient returns the outcome of every probe of the matrix in ambient mode, in matrix
// order. in.Injected names the namespaces enrolled in ambient (nil: on an ambient topology,
// fixtures.Variant.Ambient, its enrolled namespaces; on the manifests' own, its injected ones,
// foo and bar — the documented ambient topology enrolls exactly those).
// DestinationRules are accepted and change nothing: ztunnel never reads them.
func PredictAmbient(in Input) ([]scenarios.ProbeOutcome, error) {
	enrolledByDefault(&in)
	if err := check(&in); err != nil {
		return nil, err
	}
	if err := checkAmbient(&in); err != nil {
		return nil, err
	}
	var out []scenarios.ProbeOutcome
	for _, p := range scenarios.Matrix(in.Topology) {
		client, _ := in.Topology.Workload(p.From)
		svc, _ := in.Topology.Service(p.To)
		server := in.Topology.ServiceWorkloads(svc)[0]
		sp := svc.Ports[slices.IndexFunc(svc.Ports, func(x fixtures.ServicePort) bool { return x.Port == p.Port })]
		class := scenarios.ClassPlaintext
		serverID := fixtures.SPIFFEID(in.TrustDomain, server.Namespace, server.ServiceAccount)
		wp, viaWaypoint := in.Waypoints[svc.Namespace]
		switch {
		case in.Injected[client.Namespace] && viaWaypoint && wp.XFCCClientIdentity:
			class, serverID = scenarios.ClassWaypoint, wp.Identity(in.TrustDomain)
		case in.Injected[client.Namespace] && (viaWaypoint || in.Injected[server.Namespace]):
			class = scenarios.ClassHBONE
		case in.Injected[server.Namespace] && ambientDeniesPlaintext(&in, server)[sp.TargetPort]:
			class = scenarios.ClassReset
		}
		o, err := class.Outcome(serverID,
			fixtures.SPIFFEID(in.TrustDomain, client.Namespace, client.ServiceAccount))
		if err != nil {
			return nil, err
		}
		out = append(out, scenarios.ProbeOutcome{Probe: p, Outcome: o})
	}
	return out, nil
}

// AmbientDeniedPorts returns, for every enrolled server workload, whether ztunnel rejects a
// connection without a peer identity on each of its workload ports.
func AmbientDeniedPorts(in Input) (map[fixtures.Ref]map[int]bool, error) {
	enrolledByDefault(&in)
	if err := check(&in); err != nil {
		return nil, err
	}
	if err := checkAmbient(&in); err != nil {
		return nil, err
	}
	return perServerPort(&in, func(w fixtures.Workload) func(port int) bool {
		denied := ambientDeniesPlaintext(&in, w)
		return func(port int) bool { return denied[port] }
	}), nil
}

// checkAmbient rejects what the ambient conversion reads differently from the sidecar rules
// and the oracle does not model: a PeerAuthentication selector with no labels. A workload's
// policy list counts it at namespace level (workloads.go fetchPeerAuthentications: labels of
// an empty selector are a subset of any pod's; authorization.go convertedSelectorPeerAuthentications
// treats empty matchLabels as namespace-wide), while the namespace and root policies a port-level
// conversion merges with are indexed by a nil selector only (policies.go PeerAuthByNamespace),
// and in the root namespace it is no mesh policy at all.
// enrolledByDefault fills a nil in.Injected with an ambient topology's enrolled namespaces: it
// injects none, and defaults() would otherwise read that as nothing in the mesh.
func enrolledByDefault(in *Input) {
	if in.Injected != nil || in.Topology == nil || !in.Topology.Ambient {
		return
	}
	in.Injected = map[string]bool{}
	for _, ns := range in.Topology.EnrolledNamespaces() {
		in.Injected[ns] = true
	}
}

func checkAmbient(in *Input) error {
	for ns, wp := range in.Waypoints {
		if wp.Namespace != ns {
			return fmt.Errorf("oracle: waypoint of namespace %s names namespace %q", ns, wp.Namespace)
		}
		if !in.Injected[ns] {
			return fmt.Errorf("oracle: waypoint in %s: the namespace is not enrolled in ambient; a waypoint for Services outside the mesh is not modelled", ns)
		}
	}
	for _, o := range in.Objects {
		pa := o.PeerAuthentication
		if pa == nil || pa.Spec.GetSelector() == nil || len(pa.Spec.GetSelector().GetMatchLabels()) > 0 {
			continue
		}
		return &policy.Error{Object: o.Key(), Field: "spec.selector",
			Msg: "a selector without matchLabels is not modelled by the ambient oracle (Istio's ambient conversion reads it one way for the workload and another for the policies it merges with); omit the selector for a namespace-wide policy"}
	}
	return nil
}

// ambientDeniesPlaintext says, per workload port of an enrolled server, whether a connection
// without a peer identity is denied. It follows how istiod turns PeerAuthentications into
// ztunnel DENY policies and which of them it attaches to the workload:
//
//   - the policies that apply are selected as for sidecars (selectPolicies: the oldest mesh-,
//     namespace- and workload-level policy; workloads.go fetchPeerAuthentications,
//     authorization.go convertedSelectorPeerAuthentications), and the mesh/namespace mode composes
//     as for sidecars (namespaceMode): DISABLE is no different from PERMISSIVE — only STRICT denies;
//   - a STRICT outcome attaches the static policy istio-system/istio_converted_static_strict,
//     "deny when there is no principal" on every port (policies.go DefaultPolicy);
//   - port-level modes count only in a workload policy (a selector, outside the root namespace,
//     with portLevelMtls: policies.go PeerAuthDerivedPolicies) and only as the conversion
//     reads them, which differs from the sidecar rules in three places (ambientPortLevel).
//
// ztunnel denies when any attached DENY policy matches (ztunnel src/state.rs assert_rbac); a
// DENY "group" matches when all of its rules do (src/rbac.rs Authorization::matches), and the
// destination port it sees is the workload port (a Service port is resolved before ztunnel:
// HBONE targets pod:targetPort, redirected plaintext keeps its original pod destination).
func ambientDeniesPlaintext(in *Input, w fixtures.Workload) map[int]bool {
	p := selectPolicies(in, w.Namespace, w.PodLabels)
	strictBase := namespaceMode(p) == Strict
	denied := map[int]bool{}
	all := func(v bool) {
		for _, port := range w.ContainerPorts {
			denied[port] = v
		}
	}
	wl := p.workload
	if wl == nil {
		all(strictBase)
		return denied
	}
	mode := modeOf(wl.GetMtls())
	if len(wl.GetPortLevelMtls()) == 0 {
		// convertedSelectorPeerAuthentications: a workload STRICT attaches the static policy, a
		// workload PERMISSIVE or DISABLE removes it, UNSET inherits.
		switch mode {
		case Strict:
			all(true)
		case Permissive, Disable:
			all(false)
		default:
			all(strictBase)
		}
		return denied
	}
	return ambientPortLevel(in, p, w, mode, strictBase)
}

// ambientPortLevel is a workload policy with portLevelMtls, as authorization.go
// convertedSelectorPeerAuthentications (which policies the workload references) and
// convertPeerAuthentication (what the converted policy denies) compute it. The port keys are
// workload ports, as for sidecars. Where the result differs from the sidecar rules:
//
//  1. workload mode UNSET under a STRICT namespace/mesh, with DISABLE ports but no PERMISSIVE
//     port: convertedSelectorPeerAuthentications looks for PERMISSIVE ports only ("foundPermissive"),
//     so the static STRICT policy stays attached and the DISABLE ports are denied plaintext too;
//  2. workload mode PERMISSIVE or DISABLE with STRICT ports, under a mesh STRICT policy and no
//     namespace policy (or one with mode UNSET): convertPeerAuthentication skips each STRICT port
//     because its condition's third clause, ((nsCfg == nil || UNSET) && rootCfg STRICT), is not
//     guarded by the workload mode being UNSET (Go's && binds tighter than ||); the converted
//     policy is empty, nothing is attached, and the STRICT ports accept plaintext;
//  3. workload mode UNSET with a PERMISSIVE port, under a namespace policy whose mode is UNSET and
//     a mesh STRICT policy: the static policy is dropped for the workload's own, but that one
//     skips every non-STRICT port ("nsCfg != nil && !STRICT") and every STRICT port (clause 3
//     above), so it is empty and nothing is denied on any port.
func ambientPortLevel(in *Input, p levelPolicies, w fixtures.Workload, mode Mode, strictBase bool) map[int]bool {
	denied := map[int]bool{}
	portModes := map[int]Mode{}
	for port, m := range p.workload.GetPortLevelMtls() {
		portModes[int(port)] = modeOf(m)
	}
	withMode := func(ms ...Mode) []int {
		var out []int
		for port, m := range portModes {
			if slices.Contains(ms, m) {
				out = append(out, port)
			}
		}
		return out
	}
	set := func(ports []int, v bool) {
		for _, port := range ports {
			denied[port] = v
		}
	}
	all := func(v bool) { set(w.ContainerPorts, v) }

	// The namespace and mesh policies the conversion merges with (policies.go PeerAuthByNamespace:
	// the oldest without a selector).
	nsMode, rootMode := unset, unset
	nsSet, rootSet := p.namespace != nil, p.mesh != nil
	if nsSet {
		nsMode = modeOf(p.namespace.GetMtls())
	}
	if rootSet {
		rootMode = modeOf(p.mesh.GetMtls())
	}
	// convertPeerAuthentication skips a STRICT port when "the parent" already enforces it; the
	// third clause applies whatever the workload mode (difference 2).
	strictPortSkipped := mode == Strict ||
		(mode == unset && nsSet && nsMode == Strict) ||
		((!nsSet || nsMode == unset) && rootSet && rootMode == Strict)

	switch mode {
	case Strict:
		nonStrict := withMode(Permissive, Disable)
		all(true)
		// With a non-STRICT port the workload's converted policy replaces the static one and
		// denies "no principal AND port not in the exceptions".
		set(nonStrict, false)
	case Permissive, Disable:
		all(false)
		if !strictPortSkipped {
			set(withMode(Strict), true)
		}
	default: // UNSET
		if strictBase {
			if len(withMode(Permissive)) == 0 {
				all(true) // difference 1: the static policy, DISABLE ports included
				return denied
			}
			// The non-STRICT ports are exempted only when the namespace policy is STRICT, or
			// there is none and the mesh policy is STRICT (difference 3 otherwise).
			if (nsSet && nsMode == Strict) || (!nsSet && rootSet && rootMode == Strict) {
				all(true)
				set(withMode(Permissive, Disable), false)
			} else {
				all(false)
			}
			return denied
		}
		all(false)
		if !strictPortSkipped {
			set(withMode(Strict), true)
		}
	}
	return denied
}
