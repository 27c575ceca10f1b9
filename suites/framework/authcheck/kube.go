package authcheck

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// Fetcher reads config dumps from sidecars in a cluster.
type Fetcher struct {
	config    *rest.Config
	clientset kubernetes.Interface
}

// NewFetcher builds a fetcher for the cluster config points at.
func NewFetcher(config *rest.Config) (*Fetcher, error) {
	cfg, cs, err := kubeexec.Clients(config)
	if err != nil {
		return nil, fmt.Errorf("authcheck: %w", err)
	}
	return &Fetcher{config: cfg, clientset: cs}, nil
}

// Sidecars lists the running pods with an istio-proxy container in namespace ("" for all),
// or just the pod called name when name is set, sorted by namespace and name.
func (f *Fetcher) Sidecars(ctx context.Context, namespace, name string) ([]corev1.Pod, error) {
	if name != "" {
		pod, err := f.clientset.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("pod %s/%s: %w", namespace, name, err)
		}
		if !mesh.HasSidecar(pod) {
			return nil, fmt.Errorf("pod %s/%s has no %s container", namespace, name, mesh.SidecarContainer)
		}
		return []corev1.Pod{*pod}, nil
	}
	list, err := f.clientset.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var out []corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if mesh.HasSidecar(p) && mesh.PodLive(p) {
			out = append(out, *p)
		}
	}
	slices.SortFunc(out, func(a, b corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

// ConfigDump execs ConfigDumpCommand in the pod's istio-proxy container and returns its
// output.
func (f *Fetcher) ConfigDump(ctx context.Context, pod *corev1.Pod) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	code, err := kubeexec.Run(ctx, f.config, f.clientset, pod.Namespace, pod.Name, mesh.SidecarContainer, mesh.ConfigDumpCommand(true), &stdout, &stderr)
	switch {
	case err != nil:
		return nil, err
	case code != 0:
		return nil, fmt.Errorf("%s in %s/%s exited %d: %s", strings.Join(mesh.ConfigDumpCommand(true), " "), pod.Namespace, pod.Name, code, firstLine(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
