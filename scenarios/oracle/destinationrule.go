package oracle

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// This file follows how istiod finds the DestinationRule a client sidecar uses for a Service
// (istio/istio at the pinned release):
//   - PushContext.setDestinationRules (pilot/pkg/model/push_context.go) indexes every rule once:
//     rules with a workloadSelector first, then by creation time; short hosts resolved in the
//     rule's namespace (ResolveShortnameToFQDN, pilot/pkg/model/config.go); a rule with a
//     workloadSelector is never exported beyond its namespace; a rule whose exportTo is empty,
//     "*", "." or names its own namespace is namespace-local; a rule not exported only to its
//     own namespace is exported (to the namespaces exportTo names);
//   - mergeDestinationRule (pilot/pkg/model/destination_rule.go) consolidates rules for the same
//     host in one index: with equal exportTo and no (or equal) selectors the older rule's
//     trafficPolicy wins and a younger one fills it only when the older has none; otherwise the
//     younger rule stays a separate entry (ENABLE_ENHANCED_DESTINATIONRULE_MERGE, on by default);
//   - PushContext.destinationRule looks in the client's namespace (local rules), then the
//     Service's namespace (exported rules whose exportTo includes the client), then the root
//     namespace; in each, the most specific host wins (MostSpecificHostMatch, config.go) and the
//     first index that matches the host decides, even if nothing in it applies to this client;
//   - SidecarScope.DestinationRule (pilot/pkg/model/sidecar.go) then picks, from that host's
//     entries, the first rule in the client's own namespace whose workloadSelector selects the
//     client's labels, else the last entry without a selector, else none.

// drEntry is one consolidated DestinationRule of an index.
type drEntry struct {
	namespace   string
	host        string
	exportTo    []string // as indexed: "." for a rule with a workloadSelector
	hasSelector bool
	selector    map[string]string
	// policy is the consolidated rule's trafficPolicy (nil: the rule says nothing).
	policy *networkingv1alpha3.TrafficPolicy
}

// drByHost is one index: entries by resolved host.
type drByHost map[string][]*drEntry

type drIndex struct {
	root           string
	namespaceLocal map[string]drByHost
	exported       map[string]drByHost
	rootLocal      drByHost
}

// buildDRIndex follows PushContext.setDestinationRules; objects are in creation order.
func buildDRIndex(in *Input) *drIndex {
	type rule struct {
		order int
		e     drEntry
	}
	var rules []rule
	for i, o := range in.Objects {
		dr := o.DestinationRule
		if dr == nil {
			continue
		}
		e := drEntry{
			namespace:   dr.Namespace,
			host:        resolveHost(dr.Spec.GetHost(), dr.Namespace),
			exportTo:    slices.Clone(dr.Spec.GetExportTo()),
			hasSelector: dr.Spec.GetWorkloadSelector() != nil,
			selector:    dr.Spec.GetWorkloadSelector().GetMatchLabels(),
			policy:      dr.Spec.GetTrafficPolicy(),
		}
		if e.hasSelector {
			// "destination rules with workloadSelector should not be exported to other namespaces"
			e.exportTo = []string{"."}
		}
		rules = append(rules, rule{order: i, e: e})
	}
	// sortConfigBySelectorAndCreationTime: selector rules first, then oldest first.
	slices.SortStableFunc(rules, func(a, b rule) int {
		if a.e.hasSelector != b.e.hasSelector {
			if a.e.hasSelector {
				return -1
			}
			return 1
		}
		return a.order - b.order
	})
	idx := &drIndex{root: in.RootNamespace, namespaceLocal: map[string]drByHost{}, exported: map[string]drByHost{}, rootLocal: drByHost{}}
	for _, r := range rules {
		e := r.e
		set := e.exportTo
		if len(set) == 0 || slices.Contains(set, "*") || slices.Contains(set, ".") || slices.Contains(set, e.namespace) {
			if idx.namespaceLocal[e.namespace] == nil {
				idx.namespaceLocal[e.namespace] = drByHost{}
			}
			idx.namespaceLocal[e.namespace].merge(e)
		}
		// An empty exportTo means the mesh default, which is "*" (meshConfig
		// defaultDestinationRuleExportTo unset).
		privateOnly := len(set) == 1 && (set[0] == "." || set[0] == e.namespace)
		switch {
		case !privateOnly:
			if idx.exported[e.namespace] == nil {
				idx.exported[e.namespace] = drByHost{}
			}
			idx.exported[e.namespace].merge(e)
		case e.namespace == idx.root:
			idx.rootLocal.merge(e)
		}
	}
	return idx
}

// merge follows mergeDestinationRule for the fields the oracle models (subsets are rejected
// before this runs, see modelled.go).
func (byHost drByHost) merge(in drEntry) {
	list, exists := byHost[in.host]
	if !exists {
		byHost[in.host] = []*drEntry{ptrTo(in)}
		return
	}
	appendSeparately := true
	for _, m := range list {
		switch {
		case sameSet(in.exportTo, m.exportTo):
			appendSeparately = false
		case len(m.exportTo) > 0 && superset(in.exportTo, m.exportTo):
			appendSeparately = true
		default:
			appendSeparately = true
			continue
		}
		bothWithout := !in.hasSelector && !m.hasSelector
		bothWith := in.hasSelector && m.hasSelector
		selectorsMatch := maps.Equal(in.selector, m.selector)
		if bothWith && !selectorsMatch {
			appendSeparately = true
			continue
		}
		if bothWithout || (bothWith && selectorsMatch) {
			appendSeparately = false
		}
		// "only adopt the incoming top level policy when the merged rule does not have one yet"
		if m.policy == nil && in.policy != nil {
			m.policy = in.policy
		}
	}
	if appendSeparately {
		byHost[in.host] = append(list, ptrTo(in))
	}
}

func ptrTo(e drEntry) *drEntry { return &e }

func sameSet(a, b []string) bool {
	return superset(a, b) && superset(b, a)
}

func superset(a, b []string) bool {
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// mostSpecific follows MostSpecificHostMatch: the exact host, else the longest matching
// wildcard.
func (byHost drByHost) mostSpecific(host string) ([]*drEntry, bool) {
	if list, ok := byHost[host]; ok && !strings.HasPrefix(host, "*") {
		return list, true
	}
	best, found := "", false
	for h := range byHost {
		suffix, wildcard := strings.CutPrefix(h, "*")
		if !wildcard || !strings.HasSuffix(host, suffix) {
			continue
		}
		if !found || len(h) > len(best) || (len(h) == len(best) && h < best) {
			best, found = h, true
		}
	}
	return byHost[best], found
}

// lookup follows PushContext.destinationRule and then SidecarScope.DestinationRule: the
// DestinationRule (or none) the client's sidecar applies to the Service.
func (idx *drIndex) lookup(client fixtures.Workload, svc fixtures.Service) *drEntry {
	host := fixtures.Hostname(svc.Ref)
	var list []*drEntry
	found := false
	if client.Namespace != idx.root {
		list, found = idx.namespaceLocal[client.Namespace].mostSpecific(host)
	} else {
		list, found = idx.rootLocal.mostSpecific(host)
	}
	if !found {
		if list = idx.exportedTo(svc.Namespace, host, client.Namespace); len(list) == 0 {
			list = idx.exportedTo(idx.root, host, client.Namespace)
		}
	}
	var catchAll *drEntry
	for _, e := range list {
		if !e.hasSelector {
			catchAll = e
			continue
		}
		if e.namespace == client.Namespace && subsetOf(e.selector, client.PodLabels) {
			return e
		}
	}
	return catchAll
}

// exportedTo follows getExportedDestinationRuleFromNamespace: the most specific host among the
// rules owner exports, kept only if exported to the client's namespace.
func (idx *drIndex) exportedTo(owner, host, clientNamespace string) []*drEntry {
	list, _ := idx.exported[owner].mostSpecific(host)
	var out []*drEntry
	for _, e := range list {
		if len(e.exportTo) == 0 || slices.Contains(e.exportTo, "*") || slices.Contains(e.exportTo, clientNamespace) {
			out = append(out, e)
		}
	}
	return out
}

func subsetOf(selector, labels map[string]string) bool {
	for k, v := range selector {
		if w, ok := labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// resolveHost follows ResolveShortnameToFQDN (pilot/pkg/model/config.go): "*" and hosts with a
// dot (or IP addresses) are kept; a short name is completed with the rule's namespace.
func resolveHost(host, namespace string) string {
	if host == "*" || strings.Contains(host, ".") {
		return host
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host
	}
	return fixtures.Hostname(fixtures.Ref{Name: host, Namespace: namespace})
}
