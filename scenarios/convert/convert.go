// Package convert turns Istio's removed v1alpha1 authentication policy (Policy, MeshPolicy;
// deprecated in 1.4, removed in 1.6 — istio.io blog "Migrate pre-Istio 1.4 Alpha security
// policy") into the PeerAuthentication that replaced it, and re-emits the DestinationRules
// beside it at networking.istio.io/v1. What has no PeerAuthentication equivalent is an error,
// never silently dropped.
package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
)

// alphaPolicy is authentication.istio.io/v1alpha1 Policy/MeshPolicy as Istio ≤1.5 defined it
// (istio/api authentication/v1alpha1/policy.proto), decoded strictly.
type alphaPolicy struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Targets []struct {
			Name   string           `json:"name"`
			Ports  []map[string]any `json:"ports"`
			Labels map[string]any   `json:"labels"`
		} `json:"targets"`
		Peers []struct {
			Mtls *struct {
				Mode     string `json:"mode"`
				AllowTLS *bool  `json:"allowTls"`
			} `json:"mtls"`
			Jwt map[string]any `json:"jwt"`
		} `json:"peers"`
		PeerIsOptional   bool             `json:"peerIsOptional"`
		Origins          []map[string]any `json:"origins"`
		OriginIsOptional bool             `json:"originIsOptional"`
		PrincipalBinding string           `json:"principalBinding"`
	} `json:"spec"`
}

// Options carry what a v1alpha1 policy did not say but a PeerAuthentication needs.
type Options struct {
	// RootNamespace receives the converted MeshPolicy (istio-system by default).
	RootNamespace string
	// Selectors maps a v1alpha1 target (a Service name) to the pod labels of its workloads:
	// v1alpha1 selected Services, PeerAuthentication selects pods.
	Selectors map[string]map[string]string
}

// Convert reads multi-document YAML and returns the converted objects in input order.
func Convert(data []byte, opts Options) ([]policy.Object, error) {
	if opts.RootNamespace == "" {
		opts.RootNamespace = "istio-system"
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []policy.Object
	for i := 1; ; i++ {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("document %d: %v", i, err)
		}
		if len(raw) == 0 {
			continue
		}
		where := fmt.Sprintf("document %d", i)
		switch raw["apiVersion"] {
		case "authentication.istio.io/v1alpha1":
			obj, err := convertPolicy(raw, where, opts)
			if err != nil {
				return nil, err
			}
			out = append(out, obj)
		default:
			// DestinationRules (any served version) and current PeerAuthentications pass through,
			// normalised to v1, with the same validation as everywhere else.
			obj, err := policy.FromMap(raw, where)
			if err != nil {
				return nil, err
			}
			out = append(out, obj)
		}
	}
}

func convertPolicy(raw map[string]any, where string, opts Options) (policy.Object, error) {
	data, _ := json.Marshal(raw)
	var p alphaPolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return policy.Object{}, fmt.Errorf("%s: %s", where, policy.CleanYAMLError(err))
	}
	name := p.Kind + " " + p.Metadata.Namespace + "/" + p.Metadata.Name
	fail := func(field, format string, args ...any) (policy.Object, error) {
		return policy.Object{}, fmt.Errorf("%s (%s): %s: %s", where, name, field, fmt.Sprintf(format, args...))
	}
	ns := p.Metadata.Namespace
	switch p.Kind {
	case "MeshPolicy":
		ns = opts.RootNamespace
	case "Policy":
		if ns == "" {
			return fail("metadata.namespace", "required: a namespace-wide Policy becomes a PeerAuthentication in that namespace")
		}
	default:
		return fail("kind", "%q is not a v1alpha1 authentication policy (Policy or MeshPolicy)", p.Kind)
	}
	if len(p.Spec.Origins) > 0 {
		return fail("spec.origins", "origin (JWT) authentication has no PeerAuthentication equivalent; write a RequestAuthentication (security.istio.io/v1) instead")
	}
	if p.Spec.PrincipalBinding == "USE_ORIGIN" {
		return fail("spec.principalBinding", "USE_ORIGIN has no equivalent; use a RequestAuthentication and an AuthorizationPolicy")
	}
	if p.Spec.PeerIsOptional {
		return fail("spec.peerIsOptional", "optional peer authentication has no equivalent; use mode PERMISSIVE explicitly")
	}

	// No peers: the v1alpha1 policy required no peer authentication, so the sidecar served
	// plaintext only. A peer with mtls and no mode means STRICT (v1alpha1 MutualTls.Mode default).
	mode := securityv1beta1.PeerAuthentication_MutualTLS_DISABLE
	for i, peer := range p.Spec.Peers {
		if peer.Jwt != nil {
			return fail(fmt.Sprintf("spec.peers[%d].jwt", i), "JWT peer authentication has no equivalent")
		}
		m := ""
		if peer.Mtls != nil {
			m = peer.Mtls.Mode
			if peer.Mtls.AllowTLS != nil && *peer.Mtls.AllowTLS {
				return fail(fmt.Sprintf("spec.peers[%d].mtls.allowTls", i), "has no equivalent")
			}
		}
		switch strings.ToUpper(m) {
		case "", "STRICT":
			mode = securityv1beta1.PeerAuthentication_MutualTLS_STRICT
		case "PERMISSIVE":
			mode = securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE
		default:
			return fail(fmt.Sprintf("spec.peers[%d].mtls.mode", i), "%q is not STRICT or PERMISSIVE", m)
		}
	}

	pa := &securityv1.PeerAuthentication{ObjectMeta: metav1.ObjectMeta{Name: p.Metadata.Name, Namespace: ns, Labels: p.Metadata.Labels}}
	pa.APIVersion, pa.Kind = "security.istio.io/v1", policy.KindPeerAuthentication
	pa.Spec.Mtls = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: mode}
	switch len(p.Spec.Targets) {
	case 0:
	case 1:
		t := p.Spec.Targets[0]
		if p.Kind == "MeshPolicy" {
			return fail("spec.targets", "a MeshPolicy cannot have targets")
		}
		if len(t.Ports) > 0 {
			return fail("spec.targets[0].ports", "v1alpha1 named Service ports; portLevelMtls needs workload (container) ports, which a Policy does not say (istio#49098)")
		}
		labels, ok := opts.Selectors[t.Name]
		if !ok || len(labels) == 0 {
			return fail("spec.targets[0].name", "service %q: PeerAuthentication selects pods, not Services; give its pod labels with --selector %s=app=%s", t.Name, t.Name, t.Name)
		}
		pa.Spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: labels}
	default:
		return fail("spec.targets", "%d targets: write one PeerAuthentication per workload", len(p.Spec.Targets))
	}
	return policy.Object{PeerAuthentication: pa}, nil
}

// YAML renders objects as multi-document YAML a user can kubectl apply: no empty status or
// creationTimestamp noise.
func YAML(objs []policy.Object) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		var v any = o.PeerAuthentication
		if o.DestinationRule != nil {
			v = o.DestinationRule
		}
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		delete(m, "status")
		if md, ok := m["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		out, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(out)
	}
	return buf.Bytes(), nil
}
