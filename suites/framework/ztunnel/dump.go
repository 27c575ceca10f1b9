// Package ztunnel judges ambient-mode probes from ztunnel's own configuration: its admin
// endpoint's config dump (`curl localhost:15000/config_dump` in a ztunnel pod, what `istioctl
// ztunnel-config all -o json` prints). With no sidecar there is no XFCC to read, so whether a
// connection is mutual TLS is read from the workloads' protocol (HBONE: mTLS over HTTP CONNECT
// between ztunnels) and whether it is accepted from the authorization policies istiod converted
// from PeerAuthentications, evaluated as ztunnel evaluates them.
//
// The dump's shape is ztunnel's (src/admin.rs ConfigDump, src/state/workload.rs,
// src/state/service.rs, src/rbac.rs), as Istio's own reader declares it (istio/istio
// istioctl/pkg/writer/ztunnel/configdump/api.go ZtunnelDump, ZtunnelWorkload, ZtunnelService,
// ZtunnelPolicy, PolicyMatch; lists or, in older ztunnels, maps keyed by address or name:
// configdump.go unmarshalListOrMap).
package ztunnel

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Protocols a workload's inbound can speak (ztunnel src/state/workload.rs InboundProtocol).
const (
	ProtocolHBONE = "HBONE"
	ProtocolTCP   = "TCP"
)

// Policy actions and scopes as ztunnel serialises them (src/rbac.rs RbacAction, RbacScope).
const (
	ActionAllow = "Allow"
	ActionDeny  = "Deny"

	ScopeGlobal           = "Global"
	ScopeNamespace        = "Namespace"
	ScopeWorkloadSelector = "WorkloadSelector"
)

// DefaultTrustDomain is the trust domain of a workload whose trustDomain is empty (istiod
// omits cluster.local: pilot/pkg/serviceregistry/ambient/workloads.go pickTrustDomain).
const DefaultTrustDomain = "cluster.local"

// Dump is the part of ztunnel's config dump the judgement reads.
type Dump struct {
	Workloads []Workload
	Services  []Service
	Policies  []Policy
}

// Workload is one workload ztunnel knows (enrolled or not: ztunnel knows every pod).
type Workload struct {
	UID                   string   `json:"uid"`
	WorkloadIPs           []string `json:"workloadIps"`
	Protocol              string   `json:"protocol"`
	Name                  string   `json:"name"`
	Namespace             string   `json:"namespace"`
	ServiceAccount        string   `json:"serviceAccount"`
	TrustDomain           string   `json:"trustDomain,omitempty"`
	AuthorizationPolicies []string `json:"authorizationPolicies,omitempty"`
	// Hostname, Network, ApplicationTunnel and Capacity are read only to resolve a waypoint as
	// ztunnel does (src/state.rs fetch_waypoint, load_balance).
	Hostname          string          `json:"hostname,omitempty"`
	Network           string          `json:"network,omitempty"`
	ApplicationTunnel json.RawMessage `json:"applicationTunnel,omitempty"`
	// Capacity weighs the workload among a Service's endpoints; absent is 1 (workload.rs
	// default_capacity), 0 is never picked.
	Capacity *uint32 `json:"capacity,omitempty"`
}

// Service is one Service ztunnel knows (src/state/service.rs Service, camelCase).
type Service struct {
	Name      string    `json:"name"`
	Namespace string    `json:"namespace"`
	Hostname  string    `json:"hostname"`
	VIPs      []string  `json:"vips"` // NetworkAddress: "<network>/<ip>"
	CIDRVIPs  []CIDRVIP `json:"cidrVips,omitempty"`
	// Ports maps each Service port to its target port.
	Ports map[uint16]uint16 `json:"ports"`
	// Endpoints, by key, are the Service's healthy endpoints (ztunnel stores only those its
	// health policy accepts: service.rs should_include_endpoint).
	Endpoints map[string]Endpoint `json:"endpoints"`
	// Waypoint is where a mesh client's ztunnel sends a connection to the Service instead of
	// an endpoint (src/proxy/outbound.rs build_request).
	Waypoint *GatewayAddress `json:"waypoint,omitempty"`
	// WeightedWaypoints, when set, replace Waypoint with a per-connection random pick (state.rs
	// sample_weighted_waypoint); not modelled.
	WeightedWaypoints []json.RawMessage `json:"weightedWaypoints,omitempty"`
	LoadBalancer      *LoadBalancer     `json:"loadBalancer,omitempty"`
	// Visibility "Namespace" hides the Service's VIPs from clients of other namespaces
	// (service.rs visible_to); "Public" otherwise.
	Visibility string `json:"visibility,omitempty"`
}

// Key is how the judgement names the Service: namespace/name.
func (s Service) Key() string { return s.Namespace + "/" + s.Name }

// CIDRVIP is a Service VIP range (workload.rs NetworkCidr).
type CIDRVIP struct {
	Network string `json:"network"`
	CIDR    string `json:"cidr"`
}

// Endpoint is one endpoint of a Service (service.rs Endpoint).
type Endpoint struct {
	WorkloadUID string            `json:"workloadUid"`
	Port        map[uint16]uint16 `json:"port,omitempty"`
	Status      string            `json:"status,omitempty"`
}

// LoadBalancer is a Service's endpoint selection (service.rs LoadBalancer); only its mode is read.
type LoadBalancer struct {
	Mode string `json:"mode"`
}

// Load balancer modes as ztunnel serialises them (service.rs LoadBalancerMode).
const (
	LoadBalancerStandard    = "Standard"
	LoadBalancerStrict      = "Strict"
	LoadBalancerFailover    = "Failover"
	LoadBalancerPassthrough = "Passthrough"
)

// GatewayAddress is a waypoint's address (workload.rs GatewayAddress): Destination is a
// NetworkAddress "<network>/<ip>" or a NamespacedHostname "<namespace>/<hostname>", an
// untagged enum tried in that order.
type GatewayAddress struct {
	Destination   string `json:"destination"`
	HBONEMTLSPort uint16 `json:"hboneMtlsPort"`
}

// Identity is the workload's SPIFFE ID, spiffe://<trust domain>/ns/<namespace>/sa/<sa>.
func (w Workload) Identity() string {
	td := w.TrustDomain
	if td == "" {
		td = DefaultTrustDomain
	}
	return "spiffe://" + td + "/ns/" + w.Namespace + "/sa/" + w.ServiceAccount
}

// Policy is one authorization policy (src/rbac.rs Authorization): it matches a connection when
// ANY of its rules matches; a rule matches when ALL of its clauses do; a clause when ANY of its
// matches does.
type Policy struct {
	Name      string      `json:"name"`
	Namespace string      `json:"namespace"`
	Scope     string      `json:"scope"`
	Action    string      `json:"action"`
	Rules     [][][]Match `json:"rules"`
	DryRun    bool        `json:"dryRun,omitempty"`
}

// Key is how workloads reference the policy: namespace/name.
func (p Policy) Key() string { return p.Namespace + "/" + p.Name }

// Match is one RbacMatch: every kind of field that is set must match (within one kind, any
// value; a not_ kind, none).
type Match struct {
	Namespaces          []StringMatch         `json:"namespaces,omitempty"`
	NotNamespaces       []StringMatch         `json:"notNamespaces,omitempty"`
	ServiceAccounts     []ServiceAccountMatch `json:"serviceAccounts,omitempty"`
	NotServiceAccounts  []ServiceAccountMatch `json:"notServiceAccounts,omitempty"`
	Principals          []StringMatch         `json:"principals,omitempty"`
	NotPrincipals       []StringMatch         `json:"notPrincipals,omitempty"`
	SourceIPs           []string              `json:"sourceIps,omitempty"`
	NotSourceIPs        []string              `json:"notSourceIps,omitempty"`
	DestinationIPs      []string              `json:"destinationIps,omitempty"`
	NotDestinationIPs   []string              `json:"notDestinationIps,omitempty"`
	DestinationPorts    []uint16              `json:"destinationPorts,omitempty"`
	NotDestinationPorts []uint16              `json:"notDestinationPorts,omitempty"`
}

// StringMatch is ztunnel's externally tagged enum: {"Exact": "x"}, {"Prefix": "x"},
// {"Suffix": "x"} or {"Presence": []}.
type StringMatch struct {
	Exact    *string          `json:"Exact,omitempty"`
	Prefix   *string          `json:"Prefix,omitempty"`
	Suffix   *string          `json:"Suffix,omitempty"`
	Presence *json.RawMessage `json:"Presence,omitempty"`
}

// ServiceAccountMatch matches an identity's namespace and service account.
type ServiceAccountMatch struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// Parse reads a ztunnel config dump. Fields the judgement does not use are ignored; a policy
// string match of no known kind is an error (ztunnel drops it, and the judgement would be
// silently wrong).
func Parse(raw []byte) (*Dump, error) {
	var top struct {
		Workloads json.RawMessage `json:"workloads"`
		Services  json.RawMessage `json:"services"`
		Policies  json.RawMessage `json:"policies"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("ztunnel config dump: %w", err)
	}
	d := &Dump{}
	if err := listOrMap(top.Workloads, &d.Workloads); err != nil {
		return nil, fmt.Errorf("ztunnel config dump: workloads: %w", err)
	}
	if err := listOrMap(top.Services, &d.Services); err != nil {
		return nil, fmt.Errorf("ztunnel config dump: services: %w", err)
	}
	if err := listOrMap(top.Policies, &d.Policies); err != nil {
		return nil, fmt.Errorf("ztunnel config dump: policies: %w", err)
	}
	if len(d.Workloads) == 0 {
		return nil, fmt.Errorf("ztunnel config dump: no workloads (is this a ztunnel's /config_dump?)")
	}
	for _, p := range d.Policies {
		for _, rule := range p.Rules {
			for _, clause := range rule {
				for _, m := range clause {
					for _, sms := range [][]StringMatch{m.Namespaces, m.NotNamespaces, m.Principals, m.NotPrincipals} {
						for _, sm := range sms {
							if sm.Exact == nil && sm.Prefix == nil && sm.Suffix == nil && sm.Presence == nil {
								return nil, fmt.Errorf("ztunnel config dump: policy %s: a string match of no known kind (Exact, Prefix, Suffix, Presence)", p.Key())
							}
						}
					}
				}
			}
		}
	}
	return d, nil
}

// listOrMap reads a JSON list, or a map whose values are the elements (sorted by key so the
// order is stable).
func listOrMap[T any](raw json.RawMessage, out *[]T) error {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil
	}
	if s[0] == '[' {
		return json.Unmarshal(raw, out)
	}
	m := map[string]T{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		*out = append(*out, m[k])
	}
	return nil
}

// Workload finds the workload of a pod.
func (d *Dump) Workload(namespace, pod string) (Workload, bool) {
	i := slices.IndexFunc(d.Workloads, func(w Workload) bool { return w.Namespace == namespace && w.Name == pod })
	if i < 0 {
		return Workload{}, false
	}
	return d.Workloads[i], true
}

// Service finds a Service by namespace and name; more than one (ServiceEntries may share a name)
// is an error, since the judgement would have to guess.
func (d *Dump) Service(namespace, name string) (Service, bool, error) {
	var out []Service
	for _, s := range d.Services {
		if s.Namespace == namespace && s.Name == name {
			out = append(out, s)
		}
	}
	switch len(out) {
	case 0:
		return Service{}, false, nil
	case 1:
		return out[0], true, nil
	}
	return Service{}, false, fmt.Errorf("ztunnel config dump: %d services named %s/%s", len(out), namespace, name)
}

// Connection is what ztunnel's inbound knows when it authorizes (src/rbac.rs Connection): the
// source identity ("" for plaintext, which carries none) and addresses. DstPort is the
// workload (target) port.
type Connection struct {
	SrcIdentity string
	SrcIP       netip.Addr
	DstIP       netip.Addr
	DstPort     uint16
}

// Decision is an authorization's verdict and the policy that decided it.
type Decision struct {
	Allowed bool
	// Policy is the key of the DENY policy that matched, or "" (allowed, or no ALLOW matched).
	Policy string
	Reason string
}

// Authorize decides a connection to dst as ztunnel's DemandProxyState::assert_rbac does: the
// policies of the destination's namespace (scope Namespace), the global ones (scope Global) and
// those the workload lists; any matching DENY denies; otherwise, if there is an ALLOW policy,
// one must match. Dry-run policies are not enforced. A listed policy the dump lacks is skipped,
// as ztunnel skips it ("skipping unknown policy").
func (d *Dump) Authorize(dst Workload, c Connection) Decision {
	byKey := map[string]Policy{}
	for _, p := range d.Policies {
		byKey[p.Key()] = p
	}
	var keys []string
	for _, p := range d.Policies {
		if (p.Scope == ScopeNamespace && p.Namespace == dst.Namespace) || p.Scope == ScopeGlobal {
			keys = append(keys, p.Key())
		}
	}
	keys = append(keys, dst.AuthorizationPolicies...)
	var allows []Policy
	for _, k := range keys {
		p, ok := byKey[k]
		if !ok || p.DryRun {
			continue
		}
		switch p.Action {
		case ActionDeny:
			if p.matches(c) {
				return Decision{Allowed: false, Policy: k, Reason: "DENY policy " + k + " matches"}
			}
		case ActionAllow:
			allows = append(allows, p)
		}
	}
	if len(allows) == 0 {
		return Decision{Allowed: true, Reason: "no DENY policy matches and there is no ALLOW policy"}
	}
	for _, p := range allows {
		if p.matches(c) {
			return Decision{Allowed: true, Reason: "ALLOW policy " + p.Key() + " matches"}
		}
	}
	return Decision{Allowed: false, Reason: "no ALLOW policy matches"}
}

func (p Policy) matches(c Connection) bool {
	for _, rule := range p.Rules {
		ruleMatch := true
		for _, clause := range rule {
			clauseMatch := len(clause) == 0
			for _, m := range clause {
				if m.empty() {
					continue
				}
				if m.matches(c) {
					clauseMatch = true
					break
				}
			}
			if !clauseMatch {
				ruleMatch = false
				break
			}
		}
		if ruleMatch {
			return true
		}
	}
	return false
}

func (m Match) empty() bool {
	return len(m.Namespaces)+len(m.NotNamespaces)+len(m.ServiceAccounts)+len(m.NotServiceAccounts)+
		len(m.Principals)+len(m.NotPrincipals)+len(m.SourceIPs)+len(m.NotSourceIPs)+
		len(m.DestinationIPs)+len(m.NotDestinationIPs)+len(m.DestinationPorts)+len(m.NotDestinationPorts) == 0
}

func (m Match) matches(c Connection) bool {
	ns, sa := identityParts(c.SrcIdentity)
	return kind(m.DestinationIPs, m.NotDestinationIPs, func(s string) bool { return prefixContains(s, c.DstIP) }) &&
		kind(m.SourceIPs, m.NotSourceIPs, func(s string) bool { return prefixContains(s, c.SrcIP) }) &&
		kind(m.DestinationPorts, m.NotDestinationPorts, func(p uint16) bool { return p == c.DstPort }) &&
		kind(m.ServiceAccounts, m.NotServiceAccounts, func(s ServiceAccountMatch) bool {
			return c.SrcIdentity != "" && s.Namespace == ns && s.ServiceAccount == sa
		}) &&
		kind(m.Principals, m.NotPrincipals, func(s StringMatch) bool {
			// Istio principals are written without spiffe://; an identity without it matches nothing.
			id, ok := strings.CutPrefix(c.SrcIdentity, "spiffe://")
			return ok && s.matches(id)
		}) &&
		kind(m.Namespaces, m.NotNamespaces, func(s StringMatch) bool { return s.matches(ns) })
}

// kind is ztunnel's matches_internal: positive values, if any, must include a match; negative
// values, if any, must include none.
func kind[T any](positive, negative []T, pred func(T) bool) bool {
	if len(positive) > 0 && !slices.ContainsFunc(positive, pred) {
		return false
	}
	return len(negative) == 0 || !slices.ContainsFunc(negative, pred)
}

func (s StringMatch) matches(v string) bool {
	switch {
	case s.Exact != nil:
		return v == *s.Exact
	case s.Prefix != nil:
		return strings.HasPrefix(v, *s.Prefix)
	case s.Suffix != nil:
		return strings.HasSuffix(v, *s.Suffix)
	case s.Presence != nil:
		return v != ""
	}
	return false
}

func prefixContains(s string, ip netip.Addr) bool {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		return a == ip
	}
	return p.Contains(ip)
}

func identityParts(id string) (namespace, serviceAccount string) {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return "", ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) == 5 && parts[1] == "ns" && parts[3] == "sa" {
		return parts[2], parts[4]
	}
	return "", ""
}
