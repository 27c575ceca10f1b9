package cluster

import (
	"fmt"
	"os"
	"slices"
	"sort"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// ConfigPatch is what a user may add to the kind cluster the suite renders (KIND_CONFIG_PATCH):
// containerd and kubeadm config patches, and turning kind's default CNI off. Node images, node
// counts and networking stay the suite's; any other field of the file is an error, never ignored.
type ConfigPatch struct {
	ContainerdConfigPatches []string
	KubeadmConfigPatches    []string
	DisableDefaultCNI       bool
}

// patchFields are the kind v1alpha4 Cluster fields a patch file may set (kind pkg/apis/config/v1alpha4 types.go).
var patchFields = map[string][]string{
	"kind": nil, "apiVersion": nil, "containerdConfigPatches": nil, "kubeadmConfigPatches": nil,
	"networking": {"disableDefaultCNI"},
}

// LoadConfigPatch reads a kind Cluster config file as a patch.
func LoadConfigPatch(path string) (*ConfigPatch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kind config patch: %w", err)
	}
	return ParseConfigPatch(path, data)
}

// ParseConfigPatch is LoadConfigPatch on data read from name.
func ParseConfigPatch(name string, data []byte) (*ConfigPatch, error) {
	var fields map[string]any
	if err := yaml.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("kind config patch %s: %w", name, err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub, ok := patchFields[k]
		if !ok {
			return nil, fmt.Errorf("kind config patch %s: field %q is not one the suite takes from a patch (containerdConfigPatches, kubeadmConfigPatches, networking.disableDefaultCNI)", name, k)
		}
		if sub == nil {
			continue
		}
		m, ok := fields[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("kind config patch %s: field %q is not a mapping", name, k)
		}
		for sk := range m {
			if !slices.Contains(sub, sk) {
				return nil, fmt.Errorf("kind config patch %s: field %q is not one the suite takes from a patch (containerdConfigPatches, kubeadmConfigPatches, networking.disableDefaultCNI)", name, k+"."+sk)
			}
		}
	}
	var cfg v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("kind config patch %s: %w", name, err)
	}
	if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("kind config patch %s: kind %q apiVersion %q, want Cluster kind.x-k8s.io/v1alpha4", name, cfg.Kind, cfg.APIVersion)
	}
	return &ConfigPatch{
		ContainerdConfigPatches: cfg.ContainerdConfigPatches,
		KubeadmConfigPatches:    cfg.KubeadmConfigPatches,
		DisableDefaultCNI:       cfg.Networking.DisableDefaultCNI,
	}, nil
}

func (p *ConfigPatch) apply(cfg *v1alpha4.Cluster) {
	if p == nil {
		return
	}
	cfg.ContainerdConfigPatches = append(cfg.ContainerdConfigPatches, p.ContainerdConfigPatches...)
	cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches, p.KubeadmConfigPatches...)
	cfg.Networking.DisableDefaultCNI = cfg.Networking.DisableDefaultCNI || p.DisableDefaultCNI
}
