// Package policy reads the Istio objects a scenario (or a `predict` input) applies —
// PeerAuthentication and DestinationRule, in any served API version — into istio client-go v1
// typed objects, strictly, and rejects what Istio itself would reject, with Istio's own words.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Kinds and the API versions Istio 1.31 serves for them (istio.io/api
// kubernetes/customresourcedefinitions.gen.yaml).
const (
	KindPeerAuthentication = "PeerAuthentication"
	KindDestinationRule    = "DestinationRule"
)

var servedVersions = map[string][]string{
	KindPeerAuthentication: {"security.istio.io/v1", "security.istio.io/v1beta1"},
	KindDestinationRule:    {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
}

// Object is one Istio object; exactly one field is set. Objects are always handled by pointer
// (the generated specs hold a mutex).
type Object struct {
	PeerAuthentication *securityv1.PeerAuthentication
	DestinationRule    *networkingv1.DestinationRule
}

// Kind is the object's kind.
func (o Object) Kind() string {
	if o.PeerAuthentication != nil {
		return KindPeerAuthentication
	}
	return KindDestinationRule
}

// Meta is the object's metadata.
func (o Object) Meta() *metav1.ObjectMeta {
	if o.PeerAuthentication != nil {
		return &o.PeerAuthentication.ObjectMeta
	}
	return &o.DestinationRule.ObjectMeta
}

// Key is "Kind namespace/name", unique within a scenario.
func (o Object) Key() string {
	m := o.Meta()
	return o.Kind() + " " + m.Namespace + "/" + m.Name
}

func (o Object) String() string { return o.Key() }

// Error is a decoding or validation failure that names the field, as Istio and kubectl do.
type Error struct {
	Object string // "PeerAuthentication foo/default", or "document 2" before the name is known
	Field  string // "spec.portLevelMtls"
	Msg    string
}

func (e *Error) Error() string {
	s := e.Object
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// Decode reads multi-document YAML or JSON. Document order is creation order. Empty documents
// are skipped; an empty input yields no objects.
func Decode(data []byte) ([]Object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []Object
	for i := 1; ; i++ {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, &Error{Object: fmt.Sprintf("document %d", i), Msg: err.Error()}
		}
		if len(raw) == 0 {
			continue
		}
		obj, err := FromMap(raw, fmt.Sprintf("document %d", i))
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
}

// envelope is the object without its spec, decoded strictly so that a misspelt top-level or
// metadata field is an error rather than silently ignored.
type envelope struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
}

// FromMap decodes one object given as a generic map (a YAML document). where names the document
// in errors until the object's own name is known.
func FromMap(raw map[string]any, where string) (Object, error) {
	data, err := json.Marshal(raw)
	if err != nil {
		return Object{}, &Error{Object: where, Msg: err.Error()}
	}
	var env envelope
	if err := yaml.UnmarshalStrict(data, &env); err != nil {
		return Object{}, &Error{Object: where, Msg: CleanYAMLError(err)}
	}
	versions, ok := servedVersions[env.Kind]
	if !ok {
		return Object{}, &Error{Object: where, Field: "kind", Msg: fmt.Sprintf("%q is not supported (want PeerAuthentication or DestinationRule)", env.Kind)}
	}
	if !contains(versions, env.APIVersion) {
		msg := fmt.Sprintf("%s %q is not served by Istio (served: %s)", env.Kind, env.APIVersion, strings.Join(versions, ", "))
		if strings.HasPrefix(env.APIVersion, "authentication.istio.io/") {
			msg += "; v1alpha1 Policy was removed in Istio 1.6: run `conformance convert`"
		}
		return Object{}, &Error{Object: where, Field: "apiVersion", Msg: msg}
	}
	if env.Metadata.Name == "" {
		return Object{}, &Error{Object: where, Field: "metadata.name", Msg: "Required value"}
	}
	if env.Metadata.Namespace == "" {
		return Object{}, &Error{Object: where, Field: "metadata.namespace", Msg: "Required value (creation order and precedence depend on it)"}
	}
	name := env.Kind + " " + env.Metadata.Namespace + "/" + env.Metadata.Name
	spec := env.Spec
	if len(spec) == 0 || string(spec) == "null" {
		spec = []byte("{}")
	}

	var obj Object
	switch env.Kind {
	case KindPeerAuthentication:
		pa := &securityv1.PeerAuthentication{ObjectMeta: env.Metadata}
		pa.APIVersion, pa.Kind = "security.istio.io/v1", env.Kind
		if err := validatePortLevelKeys(spec); err != nil {
			err.Object = name
			return Object{}, err
		}
		if err := unmarshalSpec(spec, &pa.Spec); err != nil {
			return Object{}, &Error{Object: name, Field: "spec", Msg: err.Error()}
		}
		obj.PeerAuthentication = pa
		if err := validatePeerAuthentication(pa); err != nil {
			err.Object = name
			return Object{}, err
		}
	case KindDestinationRule:
		dr := &networkingv1.DestinationRule{ObjectMeta: env.Metadata}
		dr.APIVersion, dr.Kind = "networking.istio.io/v1", env.Kind
		if err := unmarshalSpec(spec, &dr.Spec); err != nil {
			return Object{}, &Error{Object: name, Field: "spec", Msg: err.Error()}
		}
		obj.DestinationRule = dr
		if dr.Spec.GetHost() == "" {
			return Object{}, &Error{Object: name, Field: "spec.host", Msg: "Required value"}
		}
	}
	return obj, nil
}

// unmarshalSpec decodes strictly: istio's generated UnmarshalJSON allows unknown fields, which
// would turn a typo such as "portLevelMTLS" into a silently different policy.
func unmarshalSpec(data []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(data, m)
}

// validatePortLevelKeys runs before typed decoding, whose own error for a key such as "70000"
// would not be Istio's message.
func validatePortLevelKeys(rawSpec []byte) *Error {
	// The typed spec cannot tell an empty map from an absent one, nor keep a key such as "0x1F"
	// as written, so the port rules read the raw JSON.
	var shape map[string]json.RawMessage
	_ = json.Unmarshal(rawSpec, &shape) // already decoded strictly above
	rawPorts, present := shape["portLevelMtls"]
	if !present {
		rawPorts, present = shape["port_level_mtls"]
	}
	var ports map[string]json.RawMessage
	_ = json.Unmarshal(rawPorts, &ports)
	if present && len(ports) == 0 {
		// minProperties: 1
		return &Error{Field: "spec.portLevelMtls", Msg: "should have at least 1 properties"}
	}
	for key := range ports {
		if p, err := strconv.Atoi(key); err != nil || p <= 0 || p > 65535 {
			return &Error{Field: "spec.portLevelMtls", Msg: "port must be between 1-65535"}
		}
	}
	return nil
}

// validatePeerAuthentication applies the CEL rules of Istio's PeerAuthentication CRD
// (istio.io/api kubernetes/customresourcedefinitions.gen.yaml, x-kubernetes-validations), with
// the same messages the apiserver returns.
func validatePeerAuthentication(pa *securityv1.PeerAuthentication) *Error {
	labels := pa.Spec.GetSelector().GetMatchLabels()
	for k, v := range labels {
		if strings.Contains(k, "*") {
			return &Error{Field: "spec.selector.matchLabels", Msg: "wildcard not allowed in label key match"}
		}
		if k == "" {
			return &Error{Field: "spec.selector.matchLabels", Msg: "key must not be empty"}
		}
		if strings.Contains(v, "*") {
			return &Error{Field: "spec.selector.matchLabels[" + k + "]", Msg: "wildcard not allowed in label value match"}
		}
	}
	if len(pa.Spec.GetPortLevelMtls()) > 0 && len(labels) == 0 {
		return &Error{Field: "spec", Msg: "portLevelMtls requires selector"}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CleanYAMLError drops sigs.k8s.io/yaml's wrapping ("error unmarshaling JSON: while decoding
// JSON: ") so that the one line a user reads says what is wrong.
func CleanYAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: ")
	msg = strings.TrimPrefix(msg, "while decoding JSON: ")
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	return msg
}
