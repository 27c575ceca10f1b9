package ztunnel

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
)

// AdminPort is ztunnel's admin listener, on its pod's localhost only; `istioctl ztunnel-config`
// reads /config_dump there through a port-forward (istio istioctl/pkg/ztunnelconfig
// ztunnelconfig.go extractZtunnelConfigDump, port 15000), as Fetcher does.
const AdminPort = 15000

// PodSelector selects the ztunnel chart's pods (manifests/charts/ztunnel templates/daemonset.yaml
// labels them app.kubernetes.io/name=ztunnel).
const PodSelector = "app.kubernetes.io/name=ztunnel"

// Fetcher reads the config dumps of a cluster's ztunnels.
type Fetcher struct {
	config *rest.Config
	kube   kubernetes.Interface
}

// NewFetcher reads ztunnels through config.
func NewFetcher(config *rest.Config) (*Fetcher, error) {
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &Fetcher{config: config, kube: kube}, nil
}

// NodeDumps is each node's ztunnel configuration, by node name, and the ztunnel pods read.
type NodeDumps struct {
	ByNode map[string]*Dump
	Pods   []string
}

// Dumps reads the config dump of every running ztunnel pod in namespace. A node whose ztunnel
// cannot be read is an error: a probe from or to a pod there would be judged by nothing.
func (f *Fetcher) Dumps(ctx context.Context, namespace string) (*NodeDumps, error) {
	pods, err := f.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: PodSelector})
	if err != nil {
		return nil, fmt.Errorf("listing ztunnel pods in %s: %w", namespace, err)
	}
	out := &NodeDumps{ByNode: map[string]*Dump{}}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		raw, err := kubeexec.PortForwardGet(ctx, f.config, p.Namespace, p.Name, AdminPort, "/config_dump")
		if err != nil {
			return nil, fmt.Errorf("ztunnel %s/%s: %w", p.Namespace, p.Name, err)
		}
		d, err := Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("ztunnel %s/%s: %w", p.Namespace, p.Name, err)
		}
		out.ByNode[p.Spec.NodeName] = d
		out.Pods = append(out.Pods, p.Name+"."+p.Namespace)
	}
	if len(out.Pods) == 0 {
		return nil, fmt.Errorf("no running ztunnel pod (%s) in %s", PodSelector, namespace)
	}
	return out, nil
}
