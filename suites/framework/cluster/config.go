package cluster

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

// ConfigSpec is what the suite varies in a kind cluster.
type ConfigSpec struct {
	Name string
	// NodeImage is the node image: by default kind's image pinned for the Istio version
	// (versions.NodeImageFor); any image reference is accepted (CheckNodeImage, which NewKind
	// runs: rendering does not check it again).
	NodeImage string
	// Workers is the number of worker nodes besides the control plane (0: everything runs on
	// the control-plane node, which kind leaves untainted).
	Workers int
	// Patch adds containerd and kubeadm patches and turns kind's CNI off (KIND_CONFIG_PATCH).
	Patch *ConfigPatch
}

// RenderConfig builds the kind v1alpha4 Cluster for spec. The API server listens on 127.0.0.1
// only (kind's default, stated so the rendered file says it).
func RenderConfig(spec ConfigSpec) (*v1alpha4.Cluster, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("kind config: cluster name is empty")
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
	spec.Patch.apply(cfg)
	return cfg, nil
}

// CheckNodeImage accepts any image reference as a node image and says when it is a risk. kind
// supports only the node images its release lists, pinned by digest (kind's release notes): one
// of those, or a mirror's copy with the same digest, is safe; anything else (a locally built
// image, another tag) may not boot with this kind release, and the warning names that risk.
func CheckNodeImage(ref string) (warning string, err error) {
	if err := versions.CheckImageRef(ref); err != nil {
		return "", fmt.Errorf("node image: %w", err)
	}
	pins, err := versions.Load()
	if err != nil {
		return "", err
	}
	_, digest, _ := strings.Cut(ref, "@")
	for _, listed := range pins.Kind.NodeImages {
		if _, listedDigest, _ := strings.Cut(listed, "@"); ref == listed || (digest != "" && digest == listedDigest) {
			return "", nil
		}
	}
	return fmt.Sprintf("node image %s is not one kind %s lists (%s): kind supports only images built for its release; if the cluster does not come up, use a listed image", ref, pins.Kind.Version, strings.Join(pins.Kind.NodeImages, ", ")), nil
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
