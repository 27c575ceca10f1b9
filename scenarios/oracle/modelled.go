package oracle

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
)

// The spec fields the oracle reasons about, as JSON paths ("[]" for any list element or map
// value). A set field outside these is rejected by name, never ignored: a DestinationRule's
// subsets, loadBalancer (PASSTHROUGH changes auto mTLS, push_context.go
// BestEffortInferServiceMTLSMode), connectionPool, outlierDetection or tls sni/subjectAltNames
// can change what a probe observes, and the oracle has no rule for them.
//
// Istio requires every portLevelSettings entry to set at least one field
// (pkg/config/validation/validation.go validatePortTrafficPolicies), so with tls the only one
// modelled, every port-level entry sets tls: the cluster's TLS (util.GetPortLevelTrafficPolicy)
// and the endpoint's (xds/endpoints/mtls_checker.go trafficPolicyTLSModeForPort) then agree.
var modelledFields = map[string][]string{
	policy.KindPeerAuthentication: {
		"selector", "selector.matchLabels",
		"mtls", "mtls.mode",
		"portLevelMtls", "portLevelMtls[]", "portLevelMtls[].mode",
	},
	policy.KindDestinationRule: {
		"host", "exportTo",
		"workloadSelector", "workloadSelector.matchLabels",
		"trafficPolicy", "trafficPolicy.tls", "trafficPolicy.tls.mode",
		"trafficPolicy.portLevelSettings", "trafficPolicy.portLevelSettings[]",
		"trafficPolicy.portLevelSettings[].port", "trafficPolicy.portLevelSettings[].port.number",
		"trafficPolicy.portLevelSettings[].tls", "trafficPolicy.portLevelSettings[].tls.mode",
	},
}

// checkModelled rejects the first set spec field the oracle does not model, naming it as the
// user wrote it (spec.trafficPolicy.portLevelSettings[1].connectionPool).
func checkModelled(o policy.Object) error {
	var spec protoreflect.Message
	if pa := o.PeerAuthentication; pa != nil {
		spec = pa.Spec.ProtoReflect()
	} else {
		spec = o.DestinationRule.Spec.ProtoReflect()
	}
	allowed := map[string]bool{}
	for _, f := range modelledFields[o.Kind()] {
		allowed[f] = true
	}
	if field, path := firstUnmodelled(spec, "", "spec", allowed); field != "" {
		return &policy.Error{Object: o.Key(), Field: path,
			Msg: fmt.Sprintf("not modelled by the oracle, which reads only %s", strings.Join(modelledFields[o.Kind()], ", "))}
	}
	return nil
}

// firstUnmodelled walks the set fields of m in field-number order. pattern is the path with
// list indexes and map keys as "[]", shown the path as written.
func firstUnmodelled(m protoreflect.Message, pattern, shown string, allowed map[string]bool) (string, string) {
	var field, path string
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		p, s := join(pattern, fd.JSONName()), shown+"."+fd.JSONName()
		if !allowed[p] {
			return p, s
		}
		v := m.Get(fd)
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for j := range l.Len() {
				if field, path = firstUnmodelled(l.Get(j).Message(), p+"[]", fmt.Sprintf("%s[%d]", s, j), allowed); field != "" {
					return field, path
				}
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				field, path = firstUnmodelled(mv.Message(), p+"[]", fmt.Sprintf("%s[%s]", s, k.String()), allowed)
				return field == ""
			})
			if field != "" {
				return field, path
			}
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			if field, path = firstUnmodelled(v.Message(), p, s, allowed); field != "" {
				return field, path
			}
		}
	}
	return "", ""
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
