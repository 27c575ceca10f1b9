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
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// DecodeFiles decodes the files in turn, their objects in creation order, as predict's -f flags
// give them; read reads one (a command answers "-" with its stdin). A file that does not decode is
// an error naming it.
func DecodeFiles(files []string, read func(name string) ([]byte, error)) ([]Object, error) {
	var objs []Object
	for _, f := range files {
		data, err := read(f)
		if err != nil {
			return nil, err
		}
		more, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		objs = append(objs, more...)
	}
	return objs, nil
}

// Decode reads multi-document YAML or a stream of JSON objects, as kubectl does. Document order
// is creation order. Empty documents between objects are skipped; an input with no object at all
// is an error, never "no policy": a user who passes a file means to apply something.
func Decode(data []byte) ([]Object, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	var out []Object
	for i, doc := range docs {
		where := fmt.Sprintf("document %d", i+1)
		var raw map[string]any
		switch v := doc.(type) {
		case nil:
			continue // an empty document (only comments, or a stray separator)
		case map[string]any:
			raw = v
		case []any:
			return nil, &Error{Object: where, Msg: "a YAML sequence, not an object (want PeerAuthentication or DestinationRule)"}
		default:
			return nil, &Error{Object: where, Msg: fmt.Sprintf("a YAML scalar, not an object (want PeerAuthentication or DestinationRule): %v", v)}
		}
		obj, err := FromMap(raw, where)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	if len(out) == 0 {
		return nil, &Error{Object: "empty input", Msg: "no PeerAuthentication or DestinationRule documents"}
	}
	return out, nil
}

// documents splits the input into its documents, each decoded into generic JSON values (nil for
// an empty document). It works on the whole input: apimachinery's streaming YAML reader
// (k8s.io/apimachinery/pkg/util/yaml LineReader + YAMLReader.Read) drops a last line whose length
// is a multiple of its 4096-byte bufio buffer when no newline follows it.
func documents(data []byte) ([]any, error) {
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		// Like kubectl (GuessJSONStream), input that starts with a brace is first read as a
		// stream of JSON objects; flow-style YAML that is not JSON falls through to YAML.
		if docs, err := jsonDocuments(data); err == nil {
			return docs, nil
		}
	}
	var out []any
	for i, doc := range yamlDocuments(data) {
		if doc.err != nil {
			return nil, &Error{Object: fmt.Sprintf("document %d", i+1), Msg: doc.err.Error()}
		}
		var v any
		if err := yaml.Unmarshal(doc.text, &v); err != nil {
			return nil, &Error{Object: fmt.Sprintf("document %d", i+1), Msg: CleanYAMLError(err)}
		}
		out = append(out, v)
	}
	return out, nil
}

func jsonDocuments(data []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []any
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		out = append(out, v)
	}
}

type yamlDocument struct {
	text []byte
	err  error
}

// yamlDocuments splits at lines that start with "---", with kubectl's rule
// (k8s.io/apimachinery/pkg/util/yaml YAMLReader.Read): only spaces or a comment may follow the
// separator on its line.
func yamlDocuments(data []byte) []yamlDocument {
	var out []yamlDocument
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("---")); ok {
			rest = bytes.TrimSpace(rest)
			if len(rest) > 0 && rest[0] != '#' {
				return append(out, yamlDocument{err: fmt.Errorf("invalid YAML document separator: %s", rest)})
			}
			out = append(out, yamlDocument{text: bytes.Clone(cur.Bytes())})
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(out, yamlDocument{text: cur.Bytes()})
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
	// What the document is comes first, by kind: a ConfigMap or a List must be named as such,
	// not reported as an unknown field of a policy.
	kind, hasKind := raw["kind"]
	kindName, isString := kind.(string)
	switch {
	case len(raw) == 0:
		return Object{}, &Error{Object: where, Msg: "{}: an empty object, not a PeerAuthentication or DestinationRule"}
	case !hasKind || kindName == "":
		return Object{}, &Error{Object: where, Field: "kind", Msg: "missing (want PeerAuthentication or DestinationRule)"}
	case !isString:
		return Object{}, &Error{Object: where, Field: "kind", Msg: fmt.Sprintf("must be a string, got %v", kind)}
	case kindName == "List" || strings.HasSuffix(kindName, "List"):
		return Object{}, &Error{Object: where, Field: "kind", Msg: fmt.Sprintf("%q is not supported (want PeerAuthentication or DestinationRule, one per document)", kindName)}
	}
	if _, ok := servedVersions[kindName]; !ok {
		return Object{}, &Error{Object: where, Field: "kind", Msg: fmt.Sprintf("%q is not supported (want PeerAuthentication or DestinationRule)", kindName)}
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return Object{}, &Error{Object: where, Msg: err.Error()}
	}
	var env envelope
	if err := yaml.UnmarshalStrict(data, &env); err != nil {
		return Object{}, &Error{Object: where, Msg: CleanYAMLError(err)}
	}
	versions := servedVersions[env.Kind]
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
		if err := validateDestinationRule(dr); err != nil {
			err.Object = name
			return Object{}, err
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

// validateDestinationRule applies the rules of istiod's validating webhook
// (istio/istio pkg/config/validation/validation.go ValidateDestinationRule) that concern the
// fields a scenario or predict input may carry — trafficPolicy, exportTo, workloadSelector — with
// the webhook's messages; the first one found is returned.
func validateDestinationRule(dr *networkingv1.DestinationRule) *Error {
	if tp := dr.Spec.GetTrafficPolicy(); tp != nil {
		if proto.Size(tp) == 0 {
			return &Error{Field: "spec.trafficPolicy", Msg: "traffic policy must have at least one field"}
		}
		for i, pls := range tp.GetPortLevelSettings() {
			field := fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d]", i)
			if pls.GetPort() == nil {
				return &Error{Field: field, Msg: "portTrafficPolicy must have valid port"}
			}
			if pls.GetOutlierDetection() == nil && pls.GetConnectionPool() == nil && pls.GetLoadBalancer() == nil && pls.GetTls() == nil {
				return &Error{Field: field, Msg: "port traffic policy must have at least one field"}
			}
		}
	}
	if msg := validateExportTo(dr.Namespace, dr.Spec.GetExportTo(), dr.Spec.GetWorkloadSelector() != nil); msg != "" {
		return &Error{Field: "spec.exportTo", Msg: msg}
	}
	for k, v := range dr.Spec.GetWorkloadSelector().GetMatchLabels() {
		if k == "" {
			return &Error{Field: "spec.workloadSelector.matchLabels", Msg: fmt.Sprintf("empty key is not supported in selector: %q", k+"="+v)}
		}
		if strings.Contains(k, "*") || strings.Contains(v, "*") {
			return &Error{Field: "spec.workloadSelector.matchLabels", Msg: fmt.Sprintf("wildcard is not supported in selector: %q", k+"="+v)}
		}
	}
	return nil
}

// dns1123Label is Kubernetes' label rule, which istio's visibility.Instance.Validate applies to
// a namespace named in exportTo.
var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// validateExportTo follows validateExportTo (istio/istio pkg/config/validation/validation.go)
// for a DestinationRule.
func validateExportTo(namespace string, exportTo []string, withSelector bool) string {
	if len(exportTo) == 0 {
		return ""
	}
	set := map[string]bool{}
	for _, e := range exportTo {
		key := e
		if e == "." {
			key = namespace
		}
		switch {
		case set[key] && key != e:
			return "duplicate entries in exportTo: . and current namespace " + namespace
		case set[key]:
			return "duplicate entries in exportTo for entry " + e
		case key == "~":
			return "exportTo ~ (none) is not allowed for Istio configuration objects"
		case key != "*" && (len(key) > 63 || !dns1123Label.MatchString(key)):
			return "only .,*, or a valid DNS 1123 label is allowed as exportTo entry"
		}
		set[key] = true
	}
	if withSelector {
		if !set[namespace] {
			return "destination rule with workload selector cannot have exportTo beyond current namespace"
		}
		if len(set) > 1 {
			return "destination rule with workload selector cannot have multiple entries in exportTo"
		}
	}
	if set["*"] && len(exportTo) > 1 {
		return "cannot have both public (*) and non-public exportTo values for a resource"
	}
	return ""
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
