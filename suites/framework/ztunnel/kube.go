package ztunnel

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// AdminPort is ztunnel's admin listener, on its pod's localhost only; `istioctl ztunnel-config`
// reads /config_dump there through a port-forward (istio istioctl/pkg/ztunnelconfig
// ztunnelconfig.go extractZtunnelConfigDump, port 15000), as Fetcher does.
const AdminPort = 15000

// Fetcher reads the config dumps of a cluster's ztunnels: the pods of one ztunnel DaemonSet,
// found by the DaemonSet's own selector (as istioctl finds a node's ztunnel:
// pkg/kube/client.go PodOnNodeFromDaemonset).
type Fetcher struct {
	kube kubernetes.Interface
	// get reads one path on one port of a pod (kubeexec.PortForwardGet; tests replace it).
	get func(ctx context.Context, namespace, pod string, port int, path string) ([]byte, error)
}

// NewFetcher reads ztunnels through config.
func NewFetcher(config *rest.Config) (*Fetcher, error) {
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	get := func(ctx context.Context, namespace, pod string, port int, path string) ([]byte, error) {
		return kubeexec.PortForwardGet(ctx, config, namespace, pod, port, path)
	}
	return &Fetcher{kube: kube, get: get}, nil
}

// NodeDumps is the configuration of the ztunnel on each node read, by node name, and the
// ztunnel pods read (pod.namespace, sorted).
type NodeDumps struct {
	ByNode map[string]*Dump
	Pods   []string
}

// Dumps reads the config dump of the ztunnel of DaemonSet namespace/name on each of nodes. A node
// without exactly one live ztunnel pod (none yet, or two during a rolling update) and a ztunnel
// that cannot be read are errors: a probe from or to a pod there would be judged by nothing, or
// by either of two configurations.
func (f *Fetcher) Dumps(ctx context.Context, namespace, name string, nodes []string) (*NodeDumps, error) {
	ds, err := f.kube.AppsV1().DaemonSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("ztunnel DaemonSet %s/%s: %w", namespace, name, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("ztunnel DaemonSet %s/%s: selector: %w", namespace, name, err)
	}
	pods, err := f.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of ztunnel DaemonSet %s/%s: %w", namespace, name, err)
	}
	onNode := map[string][]*corev1.Pod{}
	for i := range pods.Items {
		if p := &pods.Items[i]; mesh.PodLive(p) {
			onNode[p.Spec.NodeName] = append(onNode[p.Spec.NodeName], p)
		}
	}
	out := &NodeDumps{ByNode: map[string]*Dump{}}
	for _, node := range nodes {
		if _, done := out.ByNode[node]; done {
			continue
		}
		if n := len(onNode[node]); n != 1 {
			return nil, fmt.Errorf("node %q runs %d live pods of ztunnel DaemonSet %s/%s, want 1", node, n, namespace, name)
		}
		p := onNode[node][0]
		raw, err := f.get(ctx, p.Namespace, p.Name, AdminPort, "/config_dump")
		if err != nil {
			return nil, fmt.Errorf("reading ztunnel's configuration: %w", err)
		}
		d, err := Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("ztunnel %s/%s: %w", p.Namespace, p.Name, err)
		}
		out.ByNode[node] = d
		out.Pods = append(out.Pods, p.Name+"."+p.Namespace)
	}
	sort.Strings(out.Pods)
	return out, nil
}
