package cluster

import (
	"fmt"

	"github.com/mtls-conformance/mtls-conformance/versions"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// DefaultName is the kind cluster name unless the caller picks another.
const DefaultName = "mtls-conformance"

// ConfigSpec is what the suite varies in a kind cluster.
type ConfigSpec struct {
	Name string
	// NodeImage is a kindest/node image pinned by digest (versions.NodeImageFor).
	NodeImage string
	// Workers is the number of worker nodes besides the control plane (0: everything runs on
	// the control-plane node, which kind leaves untainted).
	Workers int
}

// RenderConfig builds the kind v1alpha4 Cluster for spec. The API server listens on 127.0.0.1
// only (kind's default, stated so the rendered file says it).
func RenderConfig(spec ConfigSpec) (*v1alpha4.Cluster, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("kind config: cluster name is empty")
	}
	if _, err := versions.ParseNodeImage(spec.NodeImage); err != nil {
		return nil, fmt.Errorf("kind config: %w", err)
	}
	if spec.Workers < 0 {
		return nil, fmt.Errorf("kind config: %d workers", spec.Workers)
	}
	cfg := &v1alpha4.Cluster{
		TypeMeta:   v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:       spec.Name,
		Nodes:      []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole, Image: spec.NodeImage}},
		Networking: v1alpha4.Networking{APIServerAddress: "127.0.0.1"},
	}
	for range spec.Workers {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: spec.NodeImage})
	}
	return cfg, nil
}

// RenderConfigYAML is RenderConfig as the YAML `kind create cluster --config` reads, for the
// report and for users who want to reproduce the cluster with the kind CLI.
func RenderConfigYAML(spec ConfigSpec) ([]byte, error) {
	cfg, err := RenderConfig(spec)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(cfg)
}
